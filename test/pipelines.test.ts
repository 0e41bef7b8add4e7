import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../src/media/probe.js';
import { recipeArgs, type DreamRecipe } from '../src/pipeline/recipe.js';
import { argsOfSpec, commandOf, specFromArgs, validateSpec, withDefaults, type PipelineSpec, type PresetCommand } from '../src/pipeline/spec.js';
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
      const config = validateSpec(JSON.parse(readFileSync(join(PIPELINES, name), 'utf8')), name);
      expect(commandOf(config)).toBe({ 'stills-folder.json': 'stills', 'video-file.json': 'video', 'vr360.json': 'vr', 'webcam-live.json': 'live' }[name]);
    }
  });

  it('each preset file is its subcommand with only the paths given (its --print-config), naming inputs that exist', () => {
    for (const name of presets) {
      const file = validateSpec(JSON.parse(readFileSync(join(PIPELINES, name), 'utf8')), name);
      // Only what names a file, folder, camera or address is kept: the rest must be the defaults.
      const keep = (section: Record<string, unknown>, fields: string[]) => Object.fromEntries(Object.entries(section).filter(([k]) => k === 'kind' || fields.includes(k)));
      const pathsOnly = {
        source: keep(file.source, ['path', 'input']),
        stages: file.stages.map((s) => keep(s, [])),
        sinks: file.sinks.map((s) => keep(s, ['path', 'url'])),
      } as unknown as PipelineSpec;
      const command = commandOf(file);
      const preset = withDefaults(specFromArgs(command, argsOfSpec(command, pathsOnly)).spec);
      const { description, ...fromFile } = withDefaults(file);
      expect(description, name).toMatch(/dreamflow (video|vr|live|stills)/);
      expect(fromFile, name).toEqual(preset);
      const input = String(file.source.path ?? file.source.input);
      expect(input.startsWith('lavfi:') || existsSync(join(ROOT, input)), `${name}: ${input}`).toBe(true);
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
    expect(recipe).toMatchObject({ command: 'stills', spec: { source: { kind: 'image', path: join(stills, 'dog.jpg'), size: '96' } }, terms: ['inception_3b/output'] });
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
    expect(r.stderr).toContain('stages[0].iterations (--iterations): expected a whole number from 0 to 10000, got string "ten"');
    expect(r.stderr).toContain('stages[1].kind: unknown stage "temporl"');
    expect(r.stderr).toContain('sinks[0].path (--output): required');
    // A value of the right type but out of range is caught by the command and still named by its path.
    writeFileSync(bad, JSON.stringify({ source: { kind: 'video', path: clip }, stages: [{ kind: 'dream', octaves: 40 }], sinks: [{ kind: 'video', path: join(dir, 'x.mp4') }] }));
    const r2 = await runCli(['run', bad]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/^dreamflow: .*bad\.json: stages\[0\]\.octaves \(--octaves\): expected a whole number from 1 to 12, got number 40$/m);
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
    const config = validateSpec(JSON.parse(printed.stdout));
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

  /** Run a subcommand, and its printed config through `dreamflow run`, writing to two outputs. */
  async function bothWays(command: string, argsFor: (output: string) => string[], outputs: [string, string]): Promise<void> {
    const printed = await runCli([command, ...argsFor(outputs[1]), '--print-config']);
    expect(printed.code, printed.stderr).toBe(0);
    const configPath = join(dir, `${command}-printed.json`);
    writeFileSync(configPath, printed.stdout);
    const direct = await runCli([command, ...argsFor(outputs[0]), '--quiet']);
    expect(direct.code, direct.stderr).toBe(0);
    const viaRun = await runCli(['run', configPath, '--quiet']);
    expect(viaRun.code, viaRun.stderr).toBe(0);
  }

  const CHEAP_FLAGS = ['--octaves', '1', '--iterations', '2', '--frame-iterations', '1', '--layer', 'inception_3b/output', '--seed', '3'];

  it('vr, stills and live: the subcommand and its printed config give identical output', async () => {
    const pano = await makeClip({ pattern: 'mandelbrot', width: 128, height: 64, fps: 12, seconds: 0.34, audio: true, dir, name: 'pano-both.mp4' });
    const vrOut: [string, string] = [join(dir, 'vr-flags.mp4'), join(dir, 'vr-file.mp4')];
    await bothWays('vr', (o) => [pano, '-o', o, ...CHEAP_FLAGS], vrOut);
    expect(await frameHashes(vrOut[1])).toEqual(await frameHashes(vrOut[0]));

    const stillsOut: [string, string] = [join(dir, 'stills-flags'), join(dir, 'stills-file')];
    await bothWays('stills', (o) => [stills, '-o', o, '--size', '64', ...CHEAP_FLAGS.filter((f, i, a) => f !== '--frame-iterations' && a[i - 1] !== '--frame-iterations')], stillsOut);
    for (const name of ['dog.jpg', 'eagle.jpg']) expect((await pixels(join(stillsOut[1], name))).equals(await pixels(join(stillsOut[0], name))), name).toBe(true);

    // Live, bounded: a short file played once in real time and recorded. A live feed is paced by
    // the wall clock, so which dreamed pictures a recording samples (and how H.264 codes them)
    // depends on the machine's load: identity is checked on the pipeline both ways build, and
    // each recording must hold the dream of the whole file.
    const liveOut: [string, string] = [join(dir, 'live-flags.mkv'), join(dir, 'live-file.mkv')];
    await bothWays('live', (o) => ['--input', clip, '--size', '96x64', '--fps', '3', '--no-adapt', '--port', '0', '--record', o, ...CHEAP_FLAGS], liveOut);
    const reprinted = await runCli(['run', join(dir, 'live-printed.json'), '--print-config']);
    expect(reprinted.code, reprinted.stderr).toBe(0);
    expect(JSON.parse(reprinted.stdout)).toEqual(JSON.parse(readFileSync(join(dir, 'live-printed.json'), 'utf8')));
    for (const recording of liveOut) {
      const info = await probe(recording);
      expect(info, recording).toMatchObject({ width: 96, height: 64 });
      // 0.75 s of input at 3 fps: at least the first tick and the closing frame.
      expect((await frameHashes(recording)).length, recording).toBeGreaterThanOrEqual(2);
    }
  });

  it('zoom: the subcommand and its printed config give identical output', async () => {
    const zoomOut: [string, string] = [join(dir, 'zoom-flags.mp4'), join(dir, 'zoom-file.mp4')];
    await bothWays('zoom', (o) => [join(ROOT, 'samples', 'mandelbrot.png'), '-o', o, '--size', '96x64', '--duration', '0.25', ...CHEAP_FLAGS], zoomOut);
    const frames = await frameHashes(zoomOut[0]);
    expect(frames).toHaveLength(3);
    expect(await frameHashes(zoomOut[1])).toEqual(frames);
  });

  it('maps every flag to one field and back, for every subcommand: flags → spec → JSON → spec', () => {
    const cases: Record<PresetCommand, string[]> = {
      image: ['a.jpg', '-o', 'b.png', '--size', '96', '--layer', 'inception_3b/output:1,inception_4c/output:-0.5', '--tv', '0.3', '--decorrelate', '--backend', 'onnx'],
      stills: ['in', '-o', 'out', '--iterations', '4', '--class', 'tabby cat', '--class-score', 'probability'],
      video: ['in.mp4', '-o', 'out.mp4', '--no-flow', '--blend', '0.5', '--flow-width', '128', '--crf', '20', '--start', '1.5'],
      vr: ['in.mp4', '-o', 'out.mp4', '--iterations', '4', '--projection', 'cubemap', '--stereo', 'top-bottom', '--no-faststart'],
      live: ['--input', 'lavfi:testsrc2', '--flow-width', '128', '--fps', '5', '--record', 'r.mp4', '--allow-origin', 'http://a', '--allow-origin', 'http://b', '--no-adapt'],
      zoom: ['still.jpg', '-o', 'z.mp4', '--zoom', '1.02', '--rotate', '0.5', '--pan', '1,-2', '--look', 'classic', '--schedule', 'step=0:0.5,4:3', '--schedule', 'layer=0:inception_3b/output,2:inception_4c/output', '--crossfade', '0.5', '--react', 'jitter=8..32', '--ease'],
    };
    for (const [command, args] of Object.entries(cases) as Array<[PresetCommand, string[]]>) {
      const { spec } = specFromArgs(command, args);
      const viaJson = validateSpec(JSON.parse(JSON.stringify(spec)), command);
      expect(viaJson, command).toEqual(spec);
      expect(commandOf(spec), command).toBe(command);
      // And back to flags: the same spec again.
      expect(specFromArgs(command, argsOfSpec(command, spec)).spec, command).toEqual(spec);
    }
    expect(specFromArgs('video', cases.video).spec.stages[1]).toEqual({ kind: 'temporal', flow: false, blend: 0.5, flowWidth: 128 });
    expect(specFromArgs('live', cases.live).spec.sinks.map((s) => s.kind)).toEqual(['viewers', 'record']);
    expect(() => specFromArgs('image', ['a.jpg', '-o', 'b.png', '--blend', '0.5'])).toThrow(/image: unknown option --blend/);
    expect(() => specFromArgs('video', ['a.mp4', '-o', 'b.mp4', '--iterations', '2.5'])).toThrow(/^--iterations must be a whole number from 0 to 10000/);
    expect(() => specFromArgs('video', ['a.mp4', '-o', 'b.mp4', '--flow', '--no-flow'])).toThrow(/give either --flow or --no-flow/);
  });

  it('refuses stages in an order that cannot work, naming the field path', () => {
    const wrongOrder = { source: { kind: 'video', path: 'a.mp4' }, stages: [{ kind: 'temporal' }, { kind: 'dream' }], sinks: [{ kind: 'video', path: 'b.mp4' }] };
    expect(() => validateSpec(wrongOrder, 'p.json')).toThrow(/stages\[1\]: dream cannot come after temporal \(stages run in the order dream → temporal → vr\)/);
    expect(() => validateSpec(wrongOrder, 'p.json')).toThrow(/stages: the first stage must be a dream stage/);
    const vrOnLive = { source: { kind: 'live', input: 'lavfi:testsrc2' }, stages: [{ kind: 'dream' }, { kind: 'vr' }], sinks: [{ kind: 'viewers' }] };
    expect(() => validateSpec(vrOnLive)).toThrow(/stages\[1\]: a live source cannot feed a vr stage/);
    const noViewers = { source: { kind: 'live', input: 'lavfi:testsrc2' }, stages: [{ kind: 'dream' }], sinks: [{ kind: 'record', path: 'r.mp4' }] };
    expect(() => validateSpec(noViewers)).toThrow(/sinks: a live pipeline needs a viewers sink/);
    // The live flow width: a temporal field like any other.
    const flowWidth = { source: { kind: 'live', input: 'lavfi:testsrc2' }, stages: [{ kind: 'dream' }, { kind: 'temporal', flowWidth: 128 }], sinks: [{ kind: 'viewers' }] };
    expect(validateSpec(flowWidth).stages[1]).toEqual({ kind: 'temporal', flowWidth: 128 });
  });

});
