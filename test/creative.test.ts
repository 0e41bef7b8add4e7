import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../src/media/probe.js';
import { ffmpegRun } from '../src/media/run.js';
import { lastJson, runCli } from './helpers/cli.js';
import { makePanClip, removeDir } from '../bench/fixtures/clips.js';
import { dreamGain } from '../src/dream/deepdream.js';
import { fromBytes } from '../src/dream/image.js';
import { layer } from '../src/dream/objectives.js';
import { createRunner, type GradientRunner } from '../src/dream/runner.js';
import { BIN, SHARED_IMAGES, tempDir } from './helpers/paths.js';
import { helpFor, jsonSchema, specFromArgs, validateSpec, withDefaults } from '../src/pipeline/spec.js';
import { layerWeightsAt, parseScheduleFlag, valueAt } from '../src/pipeline/schedule.js';
import { LOOKS } from '../src/dream/looks.js';
import { framePeriodRms, smoothEnvelope } from '../src/media/loudness.js';
import { moveImage } from '../src/temporal/zoom.js';
import { createImage } from '../src/dream/image.js';
import sharp from 'sharp';

/** Every frame of a video as packed RGB24. */
async function decodeFrames(path: string): Promise<{ width: number; height: number; frames: Uint8Array[] }> {
  const info = await probe(path);
  const { stdout } = await ffmpegRun(['-i', path, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
  const size = info.width * info.height * 3;
  const frames: Uint8Array[] = [];
  for (let o = 0; o + size <= stdout.length; o += size) frames.push(new Uint8Array(stdout.subarray(o, o + size)));
  return { width: info.width, height: info.height, frames };
}

/** `frame` scaled by `s` about its centre (bilinear; the test's own, independent of src/). */
function scaledAboutCentre(frame: Uint8Array, width: number, height: number, s: number): Float32Array {
  const out = new Float32Array(frame.length);
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const at = (x: number, y: number, c: number): number => frame[(Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))) * 3 + c]!;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = (x - cx) / s + cx;
      const sy = (y - cy) / s + cy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        out[(y * width + x) * 3 + c] = (at(x0, y0, c) * (1 - fx) + at(x0 + 1, y0, c) * fx) * (1 - fy) + (at(x0, y0 + 1, c) * (1 - fx) + at(x0 + 1, y0 + 1, c) * fx) * fy;
      }
    }
  }
  return out;
}

/** Mean absolute difference over the centre 80 % of the frame. */
function centreMad(a: ArrayLike<number>, b: ArrayLike<number>, width: number, height: number): number {
  let sum = 0;
  let n = 0;
  for (let y = Math.round(height * 0.1); y < Math.round(height * 0.9); y++) {
    for (let x = Math.round(width * 0.1); x < Math.round(width * 0.9); x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        sum += Math.abs(a[i]! - b[i]!);
        n++;
      }
    }
  }
  return sum / n;
}

/** Cheap dream settings for the schedule and reaction runs (the default layer, measured below). */
const LIGHT = ['--octaves', '2', '--iterations', '8', '--frame-iterations', '4', '--seed', '1'];

/** Mean dream gain (the default layer's objective, dreamed over input) of frames [from, to). */
async function meanGain(runner: GradientRunner, input: string, output: string, from: number, to: number): Promise<number> {
  const a = await decodeFrames(input);
  const b = await decodeFrames(output);
  let sum = 0;
  for (let k = from; k < to; k++) {
    const g = await dreamGain(runner, fromBytes(a.width, a.height, a.frames[k]!), fromBytes(b.width, b.height, b.frames[k]!), layer('inception_4c/output'));
    sum += g!;
  }
  return sum / (to - from);
}

describe('dreamflow zoom', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => removeDir(dir));

  it('animates a photo: 24 frames at 12 fps, dreamed, each frame its predecessor zoomed by 1.04', async () => {
    const out = join(dir, 'z.mp4');
    const r = await runCli(['zoom', join(SHARED_IMAGES, 'dog.jpg'), '-o', out, '--duration', '2', '--fps', '12', '--size', '160', '--zoom', '1.04', '--octaves', '2', '--iterations', '6', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = lastJson<{ frames: number; dreamGain: number }>(r.stdout);
    expect(summary.frames).toBe(24);
    expect(summary.dreamGain).toBeGreaterThanOrEqual(2);
    const info = await probe(out);
    expect(info.frameCount).toBe(24);
    expect(info.fps).toEqual({ num: 12, den: 1 });
    const { width, height, frames } = await decodeFrames(out);
    expect(frames.length).toBe(24);
    let worst = 0;
    for (let k = 0; k + 1 < frames.length; k++) {
      const zoomed = centreMad(frames[k + 1]!, scaledAboutCentre(frames[k]!, width, height, 1.04), width, height);
      const still = centreMad(frames[k + 1]!, frames[k]!, width, height);
      expect(zoomed, `frame ${k + 1}`).toBeLessThanOrEqual(0.6 * still);
      worst = Math.max(worst, zoomed / still);
    }
    console.log(`zoom: dream gain ${summary.dreamGain}, worst zoomed/unzoomed difference ratio ${worst.toFixed(3)}`);
  });

  it('is resumable: interrupted and resumed, the same frames as an uninterrupted run', async () => {
    const args = ['zoom', join(SHARED_IMAGES, 'kite.jpg'), '--duration', '3', '--fps', '8', '--size', '96', '--octaves', '1', '--iterations', '2', '--frame-iterations', '1', '--rotate', '1', '--quiet'];
    const whole = join(dir, 'whole.mp4');
    expect((await runCli([...args, '-o', whole])).code).toBe(0);
    const resumed = join(dir, 'resumed.mp4');
    const work = join(dir, '.resumed.mp4.dreamflow');
    const child = spawn(process.execPath, [BIN, ...args, '-o', resumed], { stdio: 'ignore' });
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !(existsSync(work) && readdirSync(work).filter((f) => f.endsWith('.rgb')).length >= 5)) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(existsSync(resumed)).toBe(false);
    const r = await runCli([...args, '-o', resumed, '--resume']);
    expect(r.code, r.stderr).toBe(0);
    const frames = async (path: string): Promise<string> => createHash('sha256').update((await decodeFrames(path)).frames.map((f) => createHash('sha256').update(f).digest('hex')).join()).digest('hex');
    expect((await decodeFrames(resumed)).frames.length).toBe(24);
    expect(await frames(resumed)).toBe(await frames(whole));
  });

  it('runs from a pipeline file: a zoom source, a look and a schedule object', async () => {
    const file = join(dir, 'zoom.json');
    const out = join(dir, 'z-file.mp4');
    const pipeline = {
      source: { kind: 'zoom', path: join(SHARED_IMAGES, 'eagle.jpg'), size: '64', duration: 0.5, fps: 8, zoom: 0.97, pan: '1,0' },
      stages: [{ kind: 'dream', look: 'subtle', octaves: 1, iterations: 2 }, { kind: 'temporal', frameIterations: 1, schedule: { step: [[0, 0.5], [0.5, 2]], rotate: [[0, 0], [0.5, 3]] } }],
      sinks: [{ kind: 'video', path: out }],
    };
    writeFileSync(file, JSON.stringify(pipeline));
    const r = await runCli(['run', file, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(lastJson<{ frames: number; layers: string[] }>(r.stdout)).toMatchObject({ frames: 4, layers: ['inception_3b/output'] });
  });

  it('adds --audio as the soundtrack and follows it with --react; without a soundtrack --react is refused', async () => {
    const sound = join(dir, 'tone.wav');
    await ffmpegRun(['-y', '-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=22050', '-t', '3', sound]);
    const out = join(dir, 'z-audio.mp4');
    const still = join(SHARED_IMAGES, 'kite.jpg');
    const fast = ['--duration', '1', '--fps', '6', '--size', '96', '--octaves', '1', '--iterations', '2', '--frame-iterations', '1'];
    const r = await runCli(['zoom', still, '-o', out, ...fast, '--audio', sound, '--react', 'zoom=1..1.08', '--rotate', '2', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const info = await probe(out);
    expect(info.frameCount).toBe(6);
    expect(info.hasAudio).toBe(true);
    // Cut to the animation, not the 3 s of the file.
    expect(info.audio!.durationSeconds!).toBeLessThan(1.2);
    const refused = await runCli(['zoom', still, '-o', join(dir, 'z-none.mp4'), ...fast, '--react', 'step=0.2..4']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe('dreamflow: --react needs a soundtrack: zoom takes one with --audio FILE');
  });
});

describe('settings over time', () => {
  let dir: string;
  let runner: GradientRunner;
  beforeAll(async () => {
    dir = tempDir();
    runner = await createRunner({ quiet: true });
  });
  afterAll(async () => {
    await runner.close();
    await removeDir(dir);
  });

  it('--schedule step=0:0.2,2:4 deepens the end over the start far more than a constant step', async () => {
    // 3 s at 8 fps panning across a real photo: 24 frames; the first and last 0.5 s are 4 frames each.
    const clip = await makePanClip({ image: join(SHARED_IMAGES, 'horses.jpg'), width: 128, height: 72, fps: 8, seconds: 3, dx: 1, dir, name: 'pan.mp4' });
    const scheduled = join(dir, 'scheduled.mp4');
    const constant = join(dir, 'constant.mp4');
    const r1 = await runCli(['video', clip, '-o', scheduled, ...LIGHT, '--schedule', 'step=0:0.2,2:4', '--quiet']);
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    expect((await runCli(['video', clip, '-o', constant, ...LIGHT, '--quiet'])).code).toBe(0);
    const rise = async (out: string): Promise<number> => (await meanGain(runner, clip, out, 20, 24)) / (await meanGain(runner, clip, out, 0, 4));
    const [withSchedule, withConstant] = [await rise(scheduled), await rise(constant)];
    console.log(`schedule: late/early gain ${withSchedule.toFixed(2)}, constant step ${withConstant.toFixed(2)}`);
    expect(withSchedule).toBeGreaterThanOrEqual(2 * withConstant);
  });

  it('--react step=0.2..4 dreams deeper where the sound is loud', async () => {
    // 2 s at 8 fps, the sound silent for 1 s then a loud sine for 1 s, and the same with the halves swapped.
    const picture = await makePanClip({ image: join(SHARED_IMAGES, 'horses.jpg'), width: 128, height: 72, fps: 8, seconds: 2, dx: 1, dir, name: 'picture.mp4' });
    const withSound = async (name: string, first: string, second: string): Promise<string> => {
      const out = join(dir, name);
      const graph = `${first},atrim=0:1[a];${second},atrim=0:1[b];[a][b]concat=n=2:v=0:a=1[s]`;
      await ffmpegRun(['-y', '-i', picture, '-filter_complex', graph, '-map', '0:v', '-map', '[s]', '-c:v', 'copy', '-c:a', 'aac', out]);
      return out;
    };
    const silence = 'anullsrc=r=44100:cl=mono';
    const tone = 'sine=frequency=440:sample_rate=44100';
    const loudLate = await withSound('loud-late.mp4', silence, tone);
    const loudEarly = await withSound('loud-early.mp4', tone, silence);
    const ratio = async (clip: string): Promise<number> => {
      const out = clip.replace(/\.mp4$/, '-dreamed.mp4');
      const r = await runCli(['video', clip, '-o', out, ...LIGHT, '--react', 'step=0.2..4', '--quiet']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return (await meanGain(runner, clip, out, 12, 16)) / (await meanGain(runner, clip, out, 0, 4));
    };
    const [late, early] = [await ratio(loudLate), await ratio(loudEarly)];
    console.log(`react: late/early gain ${late.toFixed(2)} with the loud half last, ${early.toFixed(2)} with it first`);
    expect(late).toBeGreaterThanOrEqual(2 * early);
  });
});

describe('schedules, reactions and looks as settings', () => {
  it('interpolates keyframes linearly or eased, holds them outside, and cross-fades layers', () => {
    const { field, keys } = parseScheduleFlag('frame-iterations=1:2,3:6');
    expect(field).toBe('frameIterations');
    expect([valueAt(keys, 0), valueAt(keys, 2), valueAt(keys, 9)]).toEqual([2, 4, 6]);
    expect(valueAt(keys, 1.5, true)).toBeLessThan(valueAt(keys, 1.5));
    const layers = parseScheduleFlag('layer=0:inception_3b/output,2:inception_4c/output').keys;
    expect(Object.fromEntries(layerWeightsAt(layers, 2.25, 1))).toEqual({ 'inception_3b/output': 0.75, 'inception_4c/output': 0.25 });
    expect(Object.fromEntries(layerWeightsAt(layers, 3.5, 1))).toEqual({ 'inception_4c/output': 1 });
    expect(() => parseScheduleFlag('step=2:1,1:3')).toThrow(/times must increase/);
    expect(() => parseScheduleFlag('colour=0:1')).toThrow(/unknown field "colour"/);
  });

  it('moves a picture without bringing in black, and measures loudness per frame period', () => {
    // Zooming out and panning needs pixels from outside the frame: they come from the picture, reflected.
    const flat = createImage(20, 10);
    flat.data.fill(200);
    const moved = moveImage(flat, { zoom: 0.8, rotate: 10, panX: 3, panY: -2 });
    expect(Math.min(...moved.data)).toBeCloseTo(200, 3);
    // One second of silence, then one of a full-scale square wave, at 4 frames a second.
    const samples = new Int16Array(16000);
    for (let i = 8000; i < 16000; i++) samples[i] = i % 2 ? 16384 : -16384;
    const rms = framePeriodRms(samples, 8000, { num: 4, den: 1 }, 8);
    expect([...rms].map((v) => Number(v.toFixed(2)))).toEqual([0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5]);
    const smooth = smoothEnvelope(rms, { num: 4, den: 1 }, 0.25);
    expect(smooth[3]).toBe(0);
    expect(smooth[4]).toBeGreaterThan(0.5);
    expect(smooth[4]).toBeLessThan(smooth[7]!);
    expect(smooth[7]).toBe(1);
  });

  it('--schedule and --react are fields of the temporal stage: --print-config writes them, files are checked by field path', () => {
    const { spec } = specFromArgs('video', ['in.mp4', '-o', 'out.mp4', '--schedule', 'step=0:1.5,4:3', '--react', 'jitter=8..32', '--react-smoothing', '0.3']);
    const printed = withDefaults(spec).stages[1]!;
    expect(printed.schedule).toEqual({ step: [[0, 1.5], [4, 3]] });
    expect(printed.react).toEqual(['jitter=8..32']);
    const file = { source: { kind: 'video', path: 'in.mp4' }, stages: [{ kind: 'dream' }, { kind: 'temporal', schedule: { step: [[4, 3], [0, 1.5]] } }], sinks: [{ kind: 'video', path: 'o.mp4' }] };
    expect(() => validateSpec(file, 'p.json')).toThrow(/stages\[1\]\.schedule \(--schedule\): step: keyframe times must increase/);
    expect(() => specFromArgs('video', ['in.mp4', '-o', 'o.mp4', '--schedule', 'step=0:200'])).toThrow(/step: values must be numbers from 0.0001 to 100/);
    const schema = JSON.stringify(jsonSchema());
    expect(schema).toContain('"const":"zoom"');
    expect(schema).toContain('--schedule');
    for (const flag of ['--zoom N', '--rotate N', '--pan VALUE', '--audio VALUE', '--schedule FIELD=T:V,...', '--react VALUE', '--crossfade N', '--look classic|']) expect(helpFor('zoom')).toContain(flag);
  });

  it('a look sets its fields, and options given with it win', () => {
    expect(LOOKS.length).toBeGreaterThanOrEqual(6);
    const dream = (args: string[]) => withDefaults(specFromArgs('image', ['a.jpg', '-o', 'b.png', ...args]).spec).stages[0]!;
    expect(dream(['--look', 'classic'])).toMatchObject({ layer: 'inception_4c/output', octaves: 4, octaveScale: 1.4, iterations: 10, step: 1.5, jitter: 32 });
    expect(dream(['--look', 'classic', '--step', '3'])).toMatchObject({ layer: 'inception_4c/output', step: 3 });
    expect(dream(['--look', 'painterly'])).toMatchObject({ decorrelate: true });
    expect(() => specFromArgs('image', ['a.jpg', '-o', 'b.png', '--look', 'gothic'])).toThrow(/--look must be one of classic, eyes/);
  });
});

describe('dreamflow looks', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => removeDir(dir));

  it('lists the looks and dreams a picture in each onto one labelled sheet, every look different', async () => {
    const list = await runCli(['looks', '--json']);
    expect(list.code).toBe(0);
    expect(lastJson<{ looks: Array<{ name: string }> }>(list.stdout).looks.map((l) => l.name)).toEqual(LOOKS.map((l) => l.name));
    const sheet = join(dir, 'looks.png');
    const r = await runCli(['looks', join(SHARED_IMAGES, 'eagle.jpg'), '-o', sheet, '--size', '64', '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const meta = await sharp(sheet).metadata();
    // Seven cells in a 3-wide grid of 64-pixel pictures.
    expect(meta.width).toBe(3 * 64);
    // Each look dreams differently: the cells' pixels differ pairwise.
    const raw = await sharp(sheet).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const cellH = Math.floor(raw.info.height / 3);
    const cell = (i: number): number[] => {
      const out: number[] = [];
      for (let y = 0; y < 40; y++) for (let x = 0; x < 64; x++) for (let c = 0; c < 3; c++) out.push(raw.data[((Math.floor(i / 3) * cellH + y) * raw.info.width + (i % 3) * 64 + x) * 3 + c]!);
      return out;
    };
    const cells = LOOKS.map((_, i) => cell(i));
    for (let a = 0; a < cells.length; a++) for (let b = a + 1; b < cells.length; b++) expect(centreMad(cells[a]!, cells[b]!, 64, 40), `${LOOKS[a]!.name} vs ${LOOKS[b]!.name}`).toBeGreaterThan(2);
  });
});
