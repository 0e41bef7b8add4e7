/**
 * The output guard (src/sinks/outputGuard.ts, docs/architecture.md "Outputs") on every command
 * that writes: no output is an input, an existing output is replaced only with -y, names that do
 * not fit are one line, a second run on the same output is refused while the first runs, temp
 * files and join lists live in the output's resolved folder, and the container fits the codec.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip, removeDir } from '../bench/fixtures/clips.js';
import { startRedis } from '../bench/fixtures/redis.js';
import { probe } from '../src/media/probe.js';
import { ffprobeRun } from '../src/media/run.js';
import { lastJson, runCli } from './helpers/cli.js';
import { BIN, SAMPLES, tempDir } from './helpers/paths.js';

/** Cheap dreams: the outputs are under test, not the dream. */
const FAST = ['--octaves', '1', '--iterations', '1', '--model', 'squeezenet'];
const VIDEO_FAST = [...FAST, '--frame-iterations', '1'];

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Hidden files a finished job must not leave: temp files, locks, work folders. */
function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => /\.(partial-\d+|lock|dreamflow)/.test(n));
}

async function videoCodec(path: string): Promise<string> {
  const { stdout } = await ffprobeRun(['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', path]);
  return stdout.toString().trim();
}

describe('output guard', () => {
  let dir: string;
  let clip: string;
  beforeAll(async () => {
    dir = tempDir();
    clip = await makeClip({ width: 96, height: 64, fps: 10, seconds: 0.5, audio: true, dir, name: 'clip.mp4' });
  });
  afterAll(() => removeDir(dir));

  it('refuses an output that is an input: sweep, layers --gallery, image --guide, a link', async () => {
    const pic = join(dir, 's1.png');
    copyFileSync(join(SAMPLES, 'mandelbrot.png'), pic);
    const before = sha(pic);
    const link = join(dir, 'link.png');
    symlinkSync(pic, link);
    const cases: string[][] = [
      ['sweep', pic, '-o', pic, '--iterations', '1,2', '--octaves', '1', '--model', 'squeezenet'],
      ['layers', '--gallery', pic, '--input', pic, '--model', 'squeezenet', '--layers', 'fire2/concat'],
      ['image', join(SAMPLES, 'mandelbrot.png'), '--guide', pic, '-o', pic, ...FAST],
      ['image', pic, '-o', link, ...FAST],
    ];
    for (const args of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/is the input .*the input would be lost/);
    }
    expect(sha(pic)).toBe(before);
    expect(leftovers(dir)).toEqual([]);
  });

  it('replaces an existing output only with -y; -n never does; without a terminal it names -y', async () => {
    const out = join(dir, 'pic.png');
    const make = (...extra: string[]) => runCli(['image', '--from', 'noise', '--size', '32', '-o', out, ...FAST, '--quiet', ...extra]);
    expect((await make()).code).toBe(0);
    const first = statSync(out).mtimeMs;
    const plain = await make('--seed', '2');
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/pic\.png already exists: add -y \(--overwrite\) to replace it/);
    const never = await make('-n', '--seed', '2');
    expect(never.code).toBe(2);
    expect(never.stderr).toMatch(/already exists; not replaced \(-n\)/);
    expect(statSync(out).mtimeMs).toBe(first);
    expect((await make('-y', '-n')).stderr).toMatch(/either -y .* or -n/);
    const yes = await make('--overwrite', '--seed', '2');
    expect(yes.code).toBe(0);
    expect(statSync(out).mtimeMs).toBeGreaterThan(first);

    // sweep writes two files: an unrelated keep.json beside keep.png is not replaced silently.
    const sheet = join(dir, 'keep.png');
    const json = join(dir, 'keep.json');
    writeFileSync(json, '{"mine": true}\n');
    const sweep = (...extra: string[]) => runCli(['sweep', '--from', 'noise', '--size', '32', '-o', sheet, '--iterations', '1,2', '--octaves', '1', '--model', 'squeezenet', '--quiet', ...extra]);
    const refused = await sweep();
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/keep\.json already exists: add -y/);
    expect(readFileSync(json, 'utf8')).toBe('{"mine": true}\n');
    expect(existsSync(sheet)).toBe(false);
    expect((await sweep('-y')).code).toBe(0);
    expect(JSON.parse(readFileSync(json, 'utf8'))).toMatchObject({ command: 'sweep' });
    expect(leftovers(dir)).toEqual([]);
  });

  it('takes a 240-byte name, refuses a 300-byte one in one line', async () => {
    const long = join(dir, `${'n'.repeat(236)}.png`);
    const ok = await runCli(['image', '--from', 'noise', '--size', '32', '-o', long, ...FAST, '--quiet']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(existsSync(long)).toBe(true);
    const tooLong = await runCli(['image', '--from', 'noise', '--size', '32', '-o', join(dir, `${'n'.repeat(300)}.png`), ...FAST]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/^dreamflow: output name too long: 304 bytes/);
    expect(tooLong.stderr.trim().split('\n')).toHaveLength(1);
    expect(leftovers(dir)).toEqual([]);
  });

  it('video writes into a relative folder, into .., and to a name with a line break', async () => {
    const work = join(dir, 'cwd');
    mkdirSync(join(work, 'sub'), { recursive: true });
    const frames = (await probe(clip)).frameCount;
    for (const out of ['sub/out.mp4', '../up.mp4', 'line\nbreak.mp4']) {
      const r = await runCli(['video', clip, '-o', out, ...VIDEO_FAST, '--quiet'], { cwd: work });
      expect(r.stderr, JSON.stringify(out)).toBe('');
      expect(r.code).toBe(0);
      const info = await probe(join(work, out));
      expect(info.frameCount).toBe(frames);
      expect(info.hasAudio).toBe(true);
    }
    expect(leftovers(work)).toEqual([]);
    expect(leftovers(join(work, 'sub'))).toEqual([]);
  });

  it('a pipeline file whose sink is in a relative folder works too', async () => {
    const work = join(dir, 'cwd-run');
    mkdirSync(join(work, 'sub2'), { recursive: true });
    const pipeline = join(work, 'p.json');
    writeFileSync(
      pipeline,
      JSON.stringify({
        source: { kind: 'video', path: clip },
        stages: [{ kind: 'dream', octaves: 1, iterations: 1, model: 'squeezenet' }, { kind: 'temporal', frameIterations: 1 }],
        sinks: [{ kind: 'video', path: 'sub2/r.mp4' }],
      }),
    );
    const r = await runCli(['run', pipeline, '--quiet'], { cwd: work });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await probe(join(work, 'sub2', 'r.mp4'))).frameCount).toBe((await probe(clip)).frameCount);
  });

  it('-o out.webm picks VP9; a codec WebM cannot hold is refused before dreaming', async () => {
    const webm = join(dir, 'out.webm');
    const r = await runCli(['video', clip, '-o', webm, ...VIDEO_FAST, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await videoCodec(webm)).toBe('vp9');
    expect((await probe(webm)).frameCount).toBe(lastJson<{ frames: number }>(r.stdout).frames);

    const t = performance.now();
    const bad = await runCli(['video', clip, '-o', join(dir, 'bad.webm'), ...VIDEO_FAST, '--codec', 'libx264']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/\.webm cannot hold libx264 video: use --codec libvpx-vp9/);
    expect(performance.now() - t).toBeLessThan(5000);
    expect(existsSync(join(dir, '.bad.webm.dreamflow'))).toBe(false);
  });

  it('--resume may change the codec and quality: the kept frames are joined with the new ones', async () => {
    const longer = await makeClip({ width: 96, height: 64, fps: 30, seconds: 2, dir, name: 'longer.mp4' });
    const out = join(dir, 'recoded.webm');
    const work = join(dir, '.recoded.webm.dreamflow');
    const child = spawn(process.execPath, [BIN, 'video', longer, '-o', out, ...VIDEO_FAST, '--codec', 'libvpx', '--quiet'], { stdio: 'ignore' });
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !(existsSync(join(work, 'state.bin')) && readdirSync(work).filter((f) => f.endsWith('.rgb')).length >= 4)) {
      await new Promise((r) => setTimeout(r, 30));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(existsSync(out)).toBe(false);
    const r = await runCli(['video', longer, '-o', out, ...VIDEO_FAST, '--resume', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/join re-encodes them with libvpx-vp9/);
    const result = lastJson<{ frames: number; resumedFrom: number }>(r.stdout);
    expect(result.resumedFrom).toBeGreaterThanOrEqual(3);
    expect(await videoCodec(out)).toBe('vp9');
    expect((await probe(out)).frameCount).toBe((await probe(longer)).frameCount);
    // Anything else changed is still refused.
    const other = join(dir, 'other.mp4');
    const child2 = spawn(process.execPath, [BIN, 'video', longer, '-o', other, ...VIDEO_FAST, '--quiet'], { stdio: 'ignore' });
    const work2 = join(dir, '.other.mp4.dreamflow');
    while (Date.now() < deadline && !existsSync(join(work2, 'state.bin'))) await new Promise((r2) => setTimeout(r2, 30));
    child2.kill('SIGKILL');
    await new Promise((r2) => child2.on('close', r2));
    const refused = await runCli(['video', longer, '-o', other, ...VIDEO_FAST, '--size', '48', '--resume']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/cannot resume/);
  });

  it('a second run on the same output is refused while the first runs; a dead run\'s lock is taken over', async () => {
    const longer = join(dir, 'lock-in.mp4');
    await makeClip({ width: 96, height: 64, fps: 30, seconds: 2, dir, name: 'lock-in.mp4' });
    const out = join(dir, 'locked.mp4');
    const lock = join(dir, '.locked.mp4.lock');
    const first = spawn(process.execPath, [BIN, 'video', longer, '-o', out, ...VIDEO_FAST, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let firstErr = '';
    first.stderr.on('data', (d: Buffer) => (firstErr += d.toString()));
    const firstDone = new Promise<number | null>((r) => first.on('close', r));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !existsSync(join(dir, '.locked.mp4.dreamflow', 'state.bin'))) await new Promise((r) => setTimeout(r, 30));
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(first.pid));
    const second = await runCli(['video', clip, '-o', out, ...VIDEO_FAST, '--seed', '5']);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`locked\\.mp4 is being written by another dreamflow run \\(pid ${first.pid}\\)`));
    expect(await firstDone).toBe(0);
    expect(firstErr).toBe('');
    expect((await probe(out)).frameCount).toBe((await probe(longer)).frameCount);
    expect(existsSync(lock)).toBe(false);

    // A lock left by a run that died (a pid that no longer runs) is taken over.
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('close', r));
    writeFileSync(lock, `${dead.pid}\n`);
    const after = await runCli(['video', clip, '-o', out, ...VIDEO_FAST, '-y', '--quiet']);
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('farm: a second coordinator on the same output is refused while the first runs', async () => {
    const redis = await startRedis();
    const out = join(dir, 'farmed.mp4');
    const farmArgs = ['farm', clip, '-o', out, '--redis', redis.url, '--insecure', '--queue', 'guard-test', ...VIDEO_FAST];
    const first = spawn(process.execPath, [BIN, ...farmArgs, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const firstDone = new Promise<{ code: number | null }>((r) => first.on('close', (code) => r({ code })));
    try {
      // No worker runs: the first coordinator waits for one, holding its output.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && !existsSync(join(dir, '.farmed.mp4.lock'))) await new Promise((r) => setTimeout(r, 30));
      const second = await runCli([...farmArgs, '--queue', 'guard-test-2', '-y']);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(new RegExp(`farmed\\.mp4 is being written by another dreamflow run \\(pid ${first.pid}\\)`));
      expect(second.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      first.kill('SIGINT');
      await firstDone;
      await redis.stop();
    }
    expect(existsSync(join(dir, '.farmed.mp4.lock'))).toBe(false);
  });

  it('stills --resume after changing --size or --layer is refused; the same settings resume', async () => {
    const input = join(dir, 'stills-in');
    mkdirSync(input);
    copyFileSync(join(SAMPLES, 'mandelbrot.png'), join(input, 'a.png'));
    copyFileSync(join(SAMPLES, 'mandelbrot.png'), join(input, 'b.png'));
    // The run stops at c.png (not a picture) with a and b done: an unfinished run.
    writeFileSync(join(input, 'c.png'), 'not a picture');
    const out = join(dir, 'stills-out');
    const base = ['stills', input, '-o', out, ...FAST, '--quiet'];
    const first = await runCli([...base, '--size', '48']);
    expect(first.code).toBe(2);
    expect(readdirSync(out).sort()).toEqual(['a.png', 'b.png']);
    const a = sha(join(out, 'a.png'));
    writeFileSync(join(input, 'c.png'), readFileSync(join(SAMPLES, 'mandelbrot.png')));
    for (const change of [['--size', '64'], ['--size', '48', '--layer', 'fire3/concat']]) {
      const r = await runCli([...base, ...change, '--resume']);
      expect(r.code, change.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/cannot resume: the pictures in .* were dreamed with other settings/);
    }
    expect(readdirSync(out).sort()).toEqual(['a.png', 'b.png']);
    const again = await runCli([...base, '--size', '48', '--resume', '--json']);
    expect(again.code).toBe(0);
    expect(lastJson<{ skipped: number }>(again.stdout).skipped).toBe(2);
    expect(sha(join(out, 'a.png'))).toBe(a);
    expect(readdirSync(out).sort()).toEqual(['a.png', 'b.png', 'c.png']);
    expect(existsSync(join(dir, '.stills-out.dreamflow-stills.json'))).toBe(false);
    // Without --resume, the pictures already there are replaced only with -y.
    expect((await runCli([...base, '--size', '64'])).stderr).toMatch(/a\.png \(and 2 more\) already exists: add -y/);
    expect((await runCli([...base, '--size', '64', '-y'])).code).toBe(0);
    expect(sha(join(out, 'a.png'))).not.toBe(a);
  });
});
