import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../src/media/probe.js';
import { recipeArgs, type DreamRecipe } from '../src/cli/recipe.js';
import { argsFromConfig, configFromArgs, validateConfig } from '../src/pipeline/config.js';
import { readProvenance } from '../src/sinks/provenance.js';
import { lastJson, runCli } from './helpers/cli.js';
import { frameHashes, makeClip, removeDir, tempDir, SHARED_IMAGES } from '../bench/fixtures/clips.js';
import { ROOT } from './helpers/paths.js';

const PIPELINES = join(ROOT, 'pipelines');
const presets = readdirSync(PIPELINES).filter((n) => n.endsWith('.json'));

/** Cheap dream settings as overrides of a preset's first (dream) stage. */
const CHEAP = ['stages[0].octaves=1', 'stages[0].iterations=2', 'stages[0].layer="inception_3b/output"'].flatMap((s) => ['--set', s]);

async function pixels(path: string): Promise<Buffer> {
  return sharp(path).raw().toBuffer();
}

describe('pipeline files', () => {
  let dir: string;
  let clip: string;
  let stills: string;
  beforeAll(async () => {
    dir = await tempDir();
    clip = await makeClip({ pattern: 'testsrc2', width: 96, height: 64, fps: 12, seconds: 0.75, audio: true, dir, name: 'clip.mp4' });
    stills = join(dir, 'stills');
    mkdirSync(stills);
    for (const name of ['dog.jpg', 'eagle.jpg']) await sharp(join(SHARED_IMAGES, name)).resize(96).toFile(join(stills, name));
  });
  afterAll(() => removeDir(dir));

  it('has the four presets, and each validates against the schema', () => {
    expect(presets.sort()).toEqual(['stills-folder.json', 'video-file.json', 'vr360.json', 'webcam-live.json']);
    for (const name of presets) {
      const config = validateConfig(JSON.parse(readFileSync(join(PIPELINES, name), 'utf8')), name);
      expect(argsFromConfig(config).command).toBe({ 'stills-folder.json': 'stills', 'video-file.json': 'video', 'vr360.json': 'vr', 'webcam-live.json': 'live' }[name]);
    }
  });

  it('runs the video-file preset on a tiny clip: every frame and the sound kept', async () => {
    const out = join(dir, 'preset-video.mp4');
    const r = await runCli(['run', join(PIPELINES, 'video-file.json'), '--set', `source.path=${clip}`, '--set', `sinks[0].path=${out}`, ...CHEAP, '--set', 'stages[1].frameIterations=1', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [a, b] = [await probe(clip), await probe(out)];
    expect(b.frameCount).toBe(a.frameCount);
    expect(b.hasAudio).toBe(true);
    expect(lastJson<{ frames: number }>(r.stdout).frames).toBe(a.frameCount);
  });

  it('runs the vr360 preset on a tiny 2:1 clip', async () => {
    const pano = await makeClip({ pattern: 'mandelbrot', width: 128, height: 64, fps: 12, seconds: 0.5, audio: true, dir, name: 'pano.mp4' });
    const out = join(dir, 'preset-vr.mp4');
    const r = await runCli(['run', join(PIPELINES, 'vr360.json'), '--set', `source.path=${pano}`, '--set', `sinks[0].path=${out}`, ...CHEAP, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await probe(out)).frameCount).toBe((await probe(pano)).frameCount);
  });

  it('runs the stills-folder preset on a folder of pictures', async () => {
    const out = join(dir, 'stills-out');
    const r = await runCli(['run', join(PIPELINES, 'stills-folder.json'), '--set', `source.path=${stills}`, '--set', 'source.size="96"', '--set', `sinks[0].path=${out}`, ...CHEAP, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['dog.jpg', 'eagle.jpg']);
    expect(lastJson<{ dreamGain: number }>(r.stdout).dreamGain).toBeGreaterThan(1.05);
    // Each picture carries its full settings, and they remake it pixel for pixel with "image".
    const recipe = (await readProvenance(join(out, 'dog.jpg'))) as unknown as DreamRecipe;
    expect(recipe).toMatchObject({ command: 'stills', input: join(stills, 'dog.jpg'), size: '96', terms: ['inception_3b/output'] });
    expect(recipe.settings).toMatchObject({ octaves: 1, iterations: 2 });
    const again = join(dir, 'dog-again.jpg');
    const remake = await runCli(['image', ...recipeArgs(recipe, again), '--quiet']);
    expect(remake.code).toBe(0);
    expect((await pixels(again)).equals(await pixels(join(out, 'dog.jpg')))).toBe(true);
  });

  it('runs the webcam-live preset with a file played once in place of the camera', async () => {
    const r = await runCli(['run', join(PIPELINES, 'webcam-live.json'), '--set', `source.input=${clip}`, '--set', 'source.size="96x64"', '--set', 'sinks[0].port=0', ...CHEAP]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/open http:\/\/127\.0\.0\.1:\d+\/ to watch/);
    expect(r.stderr).toMatch(/input ended/);
  });

  it('names the path of a bad field and what was expected, in one line', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ source: { kind: 'video', path: clip }, stages: [{ kind: 'dream', iterations: 'ten' }, { kind: 'temporl' }], sinks: [{ kind: 'video' }] }));
    const r = await runCli(['run', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('stages[0].iterations: expected a whole number, got string "ten"');
    expect(r.stderr).toContain('stages[1].kind: unknown stage "temporl"');
    expect(r.stderr).toContain('sinks[0].path: required');
    // A value of the right type but out of range is caught by the command and still named by its path.
    writeFileSync(bad, JSON.stringify({ source: { kind: 'video', path: clip }, stages: [{ kind: 'dream', octaves: 40 }], sinks: [{ kind: 'video', path: join(dir, 'x.mp4') }] }));
    const r2 = await runCli(['run', bad]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/^dreamflow: stages\[0\]\.octaves \(--octaves\) must be/);
    // Not JSON at all.
    writeFileSync(bad, '{ "source": ');
    const r3 = await runCli(['run', bad]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/is not valid JSON/);
  });

  it('a subcommand and its printed config give identical output with the same seed', async () => {
    const flags = ['--octaves', '1', '--iterations', '2', '--frame-iterations', '1', '--layer', 'inception_3b/output', '--seed', '7', '--blend', '0.8'];
    const viaFlags = join(dir, 'flags.mp4');
    const viaFile = join(dir, 'file.mp4');
    const printed = await runCli(['video', clip, '-o', viaFile, ...flags, '--print-config']);
    expect(printed.code).toBe(0);
    const configPath = join(dir, 'printed.json');
    writeFileSync(configPath, printed.stdout);
    const config = validateConfig(JSON.parse(printed.stdout));
    expect(config.stages[0]).toMatchObject({ kind: 'dream', octaves: 1, iterations: 2, seed: 7, layer: 'inception_3b/output' });
    expect(config.stages[1]).toMatchObject({ kind: 'temporal', frameIterations: 1, blend: 0.8, flow: true });
    expect((await runCli(['video', clip, '-o', viaFlags, ...flags, '--quiet'])).code).toBe(0);
    expect((await runCli(['run', configPath, '--quiet'])).code).toBe(0);
    expect(await frameHashes(viaFile)).toEqual(await frameHashes(viaFlags));

    const stillFlags = ['--size', '96', '--octaves', '2', '--iterations', '3', '--seed', '5', '--layer', 'inception_3b/output'];
    const png = [join(dir, 'flags.png'), join(dir, 'file.png')];
    const image = join(stills, 'dog.jpg');
    const printedImage = await runCli(['image', image, '-o', png[1]!, ...stillFlags, '--print-config']);
    writeFileSync(configPath, printedImage.stdout);
    expect((await runCli(['image', image, '-o', png[0]!, ...stillFlags, '--quiet'])).code).toBe(0);
    expect((await runCli(['run', configPath, '--quiet'])).code).toBe(0);
    expect((await pixels(png[1]!)).equals(await pixels(png[0]!))).toBe(true);
  });

  it('maps every flag to one field and back', () => {
    const args = ['in.mp4', '-o', 'out.mp4', '--iterations', '4', '--no-flow', '--crf', '20', '--projection', 'cubemap', '--stereo', 'top-bottom'];
    const config = configFromArgs('vr', args);
    const back = argsFromConfig(config);
    expect(back.command).toBe('vr');
    expect(back.args[0]).toBe('in.mp4');
    expect(configFromArgs('vr', back.args)).toEqual(config);
    expect(back.fieldOfFlag.get('no-flow')).toBe('stages[1].flow');
    expect(() => configFromArgs('image', ['a.jpg', '--blend', '0.5'])).toThrow(/--blend has no pipeline field/);
  });
});
