import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeClip, removeDir } from '../bench/fixtures/clips.js';
import { FrameDecoder } from '../src/media/decoder.js';
import { probe } from '../src/media/probe.js';
import { parseSize } from '../src/media/size.js';
import { REFERENCE_PIXEL_STEPS_PER_SECOND } from '../src/dream/cost.js';
import { frameSeconds, pictureCostLine, planLine } from '../src/pipeline/estimate.js';
import { DEFAULT_DREAM } from '../src/dream/deepdream.js';
import { layer } from '../src/dream/objectives.js';
import { createRunner } from '../src/dream/runner.js';
import { previewFrames } from '../src/pipeline/preview.js';
import { wrapLabel } from '../src/pipeline/sheet.js';
import { Progress, recentRate } from '../src/pipeline/progress.js';
import { helpFor, parseLiveSize, specFromArgs, suggestFlags, type PresetCommand } from '../src/pipeline/spec.js';
import { rateOf, workingSize } from '../src/pipeline/videoJob.js';
import { lastJson, runCli } from './helpers/cli.js';
import { ROOT, SAMPLES, SHARED_IMAGES, tempDir } from './helpers/paths.js';

describe('dreamflow image', () => {
  it('dreams a photo and reports the result as one JSON line', async () => {
    const dir = tempDir();
    const out = join(dir, 'horses.png');
    const r = await runCli(['image', join(SHARED_IMAGES, 'horses.jpg'), '-o', out, '--size', '128', '--octaves', '2', '--iterations', '6', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = lastJson<{ output: string; width: number; height: number; dreamGain: number; backend: string; model: string; layers: string[] }>(r.stdout);
    expect(result).toMatchObject({ output: out, width: 128, backend: 'onnx', model: 'bvlc_googlenet', layers: ['inception_4c/output'] });
    expect(result.dreamGain).toBeGreaterThan(2);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([128, result.height, 'png']);
    // No temp file is left beside the output.
    expect(readdirSync(dir)).toEqual(['horses.png']);
  });

  it('dreams the committed sample still with SqueezeNet at a weighted pair of layers', async () => {
    const out = join(tempDir(), 'm.jpg');
    const r = await runCli([
      'image', join(SAMPLES, 'mandelbrot.png'), '-o', out, '--model', 'squeezenet', '--layer', 'fire5:1,fire7:0.5',
      '--size', '96x64', '--octaves', '1', '--iterations', '4', '--json',
    ]);
    expect(r.code).toBe(0);
    const result = lastJson<{ layers: string[]; dreamGain: number }>(r.stdout);
    expect(result.layers).toEqual(['fire5/concat', 'fire7/concat:0.5']);
    expect(result.dreamGain).toBeGreaterThan(1);
    expect((await sharp(out).metadata()).format).toBe('jpeg');
  });

  const bad: Array<[string, (dir: string) => string[], RegExp]> = [
    ['a missing file', (d) => ['image', join(d, 'nope.jpg'), '-o', join(d, 'o.png')], /no such image: .*nope\.jpg/],
    ['a file that is not an image', (d) => {
      writeFileSync(join(d, 'text.jpg'), 'hello, not a picture');
      return ['image', join(d, 'text.jpg'), '-o', join(d, 'o.png')];
    }, /text\.jpg is not an image/],
    ['an empty file', (d) => {
      writeFileSync(join(d, 'empty.png'), '');
      return ['image', join(d, 'empty.png'), '-o', join(d, 'o.png')];
    }, /empty\.png is empty/],
    ['an unknown layer', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--layer', 'inception_4cc'], /unknown layer "inception_4cc".*did you mean inception_4c\/output/],
    ['an unknown model', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--model', 'googlnet'], /unknown model "googlnet"; did you mean/],
    ['a negative step', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--step=-1'], /--step must be a number from 0\.0001 to 100, got number -1/],
    ['a fractional octave count', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--octaves', '2.5'], /--octaves must be a whole number/],
    ['a channel out of range', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--channel', '9999'], /--channel 9999 is out of range/],
    ['an output folder that does not exist', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'missing', 'o.png')], /output folder does not exist/],
    ['an unknown output format', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.xyz')], /cannot tell the image format/],
    ['an unknown flag', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--octavez', '3'], /image: unknown option --octavez \(did you mean --octaves/],
  ];
  it.each(bad)('refuses %s with one line, exit code 2 and no output', async (_, args, message) => {
    const dir = tempDir();
    const r = await runCli(args(dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, 'o.png'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

describe('dreamflow layers', () => {
  it('lists dreamable layers with channel counts', async () => {
    const r = await runCli(['layers', '--json']);
    expect(r.code).toBe(0);
    const { layers, defaultLayer } = lastJson<{ layers: Array<{ name: string; channels: number }>; defaultLayer: string }>(r.stdout);
    expect(defaultLayer).toBe('inception_4c/output');
    expect(layers.find((l) => l.name === 'inception_3b/output')?.channels).toBe(480);
  });

  it('renders a labelled gallery of one image dreamed at chosen layers', async () => {
    const out = join(tempDir(), 'gallery.png');
    const r = await runCli([
      'layers', '--gallery', out, '--input', join(SHARED_IMAGES, 'dog.jpg'), '--layers', 'inception_3b/output,inception_4c',
      '--size', '96x64', '--octaves', '1', '--iterations', '3', '--quiet',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const meta = await sharp(out).metadata();
    // Two cells side by side, each 96 wide and 64 + a label strip high.
    expect(meta.width).toBe(192);
    expect(meta.height).toBeGreaterThan(64);
  });
});

describe('ffmpeg habits, previews and estimates (issue 19)', () => {
  it('reads -i IN, a positional output, -ss/-t with clock times, --size 720p and --fps into the spec', () => {
    const { spec } = specFromArgs('video', ['-i', 'in.mp4', 'out.mp4', '-ss', '00:01.5', '-t', '0.5', '--size', '360p', '--fps', '12']);
    expect(spec.source).toMatchObject({ kind: 'video', path: 'in.mp4', start: 1.5, duration: 0.5, size: '360p', fps: 12 });
    expect(spec.sinks[0]).toMatchObject({ kind: 'video', path: 'out.mp4' });
    expect(specFromArgs('image', ['--input', 'a.png', 'b.png']).spec.sinks[0]!.path).toBe('b.png');
    // A named size fits the shorter side: an upright phone clip at 720p is 720 wide.
    expect(workingSize(1080, 1920, parseSize('720p'))).toEqual({ width: 720, height: 1280 });
    expect(workingSize(3840, 2160, parseSize('4k'))).toEqual({ width: 3840, height: 2160 });
    expect(parseLiveSize('720p')).toEqual({ width: 1280, height: 720 });
    expect(rateOf(29.97)).toEqual({ num: 30000, den: 1001 });
    expect(rateOf(12.5)).toEqual({ num: 25, den: 2 });
  });

  const refused: Array<[string[], string]> = [
    [['video', 'a.mp4', 'b.mp4', '-o', 'c.mp4'], 'unexpected argument "b.mp4" (the output is -o c.mp4)'],
    [['video', 'a.mp4', '-o', 'c.mp4', '--durat', '1'], 'video: unknown option --durat (did you mean --duration?); dreamflow video --help lists every option'],
    [['video', 'a.mp4', '-o', 'c.mp4', '--octave', '1'], 'video: unknown option --octave (did you mean --octaves or --octave-scale?); dreamflow video --help lists every option'],
    [['video', 'a.mp4', '-o', 'c.mp4', '-sss', '1'], 'video: unknown option -sss (did you mean -ss?); dreamflow video --help lists every option'],
    [['image', 'a.png', '-o', 'c.png', '--qqqqqq', '1'], 'image: unknown option --qqqqqq; dreamflow image --help lists every option'],
    [['video', 'a.mp4', '-o', 'c.mp4', '--size', '700p'], '--size must be a number of pixels (16-16384), WxH or a video size (240p, 360p, 480p, 540p, 720p, 1080p, 1440p, 2160p, 4k), e.g. 320, 640x360 or 720p (got "700p")'],
  ];
  it.each(refused)('refuses %j with one line', (args, message) => {
    const [command, ...rest] = args as [PresetCommand, ...string[]];
    expect(() => specFromArgs(command, rest)).toThrow(message);
  });

  it('suggests flags by edit distance over the flags and their aliases, only near ones', () => {
    expect(suggestFlags('crff', ['crf', 'codec', 'tv'])).toEqual(['--crf']);
    expect(suggestFlags('xyzzy', ['crf', 'codec', 'tv'])).toEqual([]);
    expect(suggestFlags('s', ['ss', 'size', 'step', 't'], new Set(['ss']))).toEqual(['-t', '-ss']);
  });

  let clip: string;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir();
    clip = await makeClip({ width: 192, height: 108, fps: 12, seconds: 2, audio: true, dir, name: 'clip.mp4' });
  });
  afterAll(() => removeDir(dir));
  const tiny = ['--octaves', '1', '--iterations', '2', '--frame-iterations', '1'];

  it('video -i CLIP OUT -ss 1 -t 0.5 --size 360p: half a second from 1 s, 640x360, with its sound', async () => {
    const out = join(dir, 'o.mp4');
    const r = await runCli(['video', '-i', clip, out, '-ss', '1', '-t', '0.5', '--size', '360p', ...tiny, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ frames: 6, width: 640, height: 360, frameRate: '12/1' });
    const media = await probe(out);
    expect([media.width, media.height, media.hasAudio]).toEqual([640, 360, true]);
    expect(media.durationSeconds).toBeCloseTo(0.5, 1);
  });

  it('video --fps 5 resamples a 12 fps clip by its timestamps: 10 frames over the same 2 s', async () => {
    const out = join(dir, 'fps.mp4');
    const r = await runCli(['video', clip, out, '--fps', '5', '--size', '96', ...tiny, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ frames: 10, frameRate: '5/1', width: 96, height: 54 });
    const media = await probe(out);
    expect(media.fps).toEqual({ num: 5, den: 1 });
    expect(media.durationSeconds).toBeCloseTo(2, 1);
  });

  it('image CLIP --at 1 dreams the frame at 1 s as the video job dreams its first frame', async () => {
    const still = join(dir, 'f.png');
    const dreamOnly = ['--octaves', '1', '--iterations', '4'];
    const r = await runCli(['image', clip, '--at', '1', '-o', still, '--size', '96', ...dreamOnly, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ width: 96, height: 54 });
    // A one-frame preview dreams frame 12 of 24 (1 s) through the video job's own stage, as the
    // first frame of a render from there: the picture is that frame, to the last bit.
    const sheet = join(dir, 'one.png');
    const p = await runCli(['video', clip, '--preview', '1', '-o', sheet, '--size', '96', ...dreamOnly, '--quiet']);
    expect(p.code, p.stderr).toBe(0);
    const picture = new Uint8Array(await sharp(still).removeAlpha().raw().toBuffer());
    const cell = new Uint8Array(await sharp(sheet).extract({ left: 0, top: 0, width: 96, height: 54 }).removeAlpha().raw().toBuffer());
    expect(Buffer.from(picture).equals(Buffer.from(cell))).toBe(true);
    const decoder = await FrameDecoder.open(clip, { start: 1, maxFrames: 1, size: { width: 96, height: 54 } });
    let input: Uint8Array | undefined;
    for await (const frame of decoder) input = frame.data;
    await decoder.close();
    const meanDiff = (a: Uint8Array, b: Uint8Array): number => a.reduce((s, x, i) => s + Math.abs(x - b[i]!), 0) / a.length;
    expect(meanDiff(picture, input!)).toBeGreaterThan(1);
    // The picture's recipe remakes it: the --at is part of it.
    const info = await runCli(['info', still, '--json']);
    expect((JSON.parse(info.stdout) as { settings: { reproduce: string } }).settings.reproduce).toMatch(/^dreamflow image --at 1 /);
    // Without --at a video is named as one, with the way to pick a frame.
    const refused = await runCli(['image', clip, '-o', join(dir, 'no.png')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(`dreamflow: ${clip} is a video: add --at SECONDS to dream one of its frames as dreamflow video would (or use dreamflow video)`);
  });

  it('video CLIP --preview 4 -o sheet.png: four frames dreamed fresh in a labelled sheet, with the full render estimated', async () => {
    const sheet = join(dir, 's.png');
    const r = await runCli(['video', clip, '--preview', '4', '-o', sheet, '--size', '96', ...tiny]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*s\.png: 4 preview frames; full render: 24 frames at 96x54, about [\d.]+s of dreaming on this machine \(onnx; first frame [\d.]+ s, then [\d.]+ s a frame\)/m);
    const meta = await sharp(sheet).metadata();
    // Two columns of 96; two rows of 54 plus captions, and the notes under them.
    expect(meta.width).toBe(192);
    expect(meta.height).toBeGreaterThan(2 * (54 + 16) + 16);
    const json = await runCli(['video', clip, '--preview', '2', '-o', join(dir, 's2.png'), '--size', '96', ...tiny, '--json']);
    const summary = lastJson<{ preview: number; frames: number; firstFrameSeconds: number; carriedFrameSeconds: number; estimatedSeconds: number }>(json.stdout);
    expect(summary).toMatchObject({ preview: 2, frames: 24 });
    expect(summary.estimatedSeconds).toBeCloseTo(summary.firstFrameSeconds + 23 * summary.carriedFrameSeconds, 0);
    expect(previewFrames(24, 4)).toEqual([3, 9, 15, 21]);
  });

  it('estimates a render up front from a throughput, and says when the input\'s own size is slow', () => {
    const plan = { frames: 166, width: 1920, height: 1080, defaultSize: true, octaves: 4, octaveScale: 1.4, iterations: 10, frameIterations: 2 };
    const { first, carried } = frameSeconds(plan, REFERENCE_PIXEL_STEPS_PER_SECOND);
    // Ten steps against two on carried frames, each also measuring its gain.
    expect(first / carried).toBeGreaterThan(3);
    const line = planLine(plan, REFERENCE_PIXEL_STEPS_PER_SECOND)!;
    expect(line).toMatch(/^166 frames at 1920x1080 \(the input's own size\): about \d+m\d\ds of dreaming on this machine \(the first frame's full dream about \S+, then about \S+ a frame\); the input's full size is slow here: --size 720p about \S+, --size 480p about \S+, --size 360p about \S+/);
    // Asked for a size: no advice; a render of a few seconds: nothing said.
    expect(planLine({ ...plan, defaultSize: false }, REFERENCE_PIXEL_STEPS_PER_SECOND)).not.toMatch(/slow here/);
    expect(planLine({ ...plan, frames: 6, width: 96, height: 54 }, REFERENCE_PIXEL_STEPS_PER_SECOND)).toBeUndefined();
    // Without flow every frame is a full dream.
    expect(frameSeconds({ ...plan, frameIterations: undefined }, 1e6).carried).toBe(frameSeconds(plan, 1e6).first);
  });

  it('says what a picture at its own size costs on this machine when that is slow, measured with the job\'s runner', async () => {
    const runner = await createRunner({ model: 'squeezenet', backend: 'onnx', quiet: true });
    try {
      const objective = layer('fire5/concat');
      const line = await pictureCostLine(runner, objective, DEFAULT_DREAM, { width: 8000, height: 6000 });
      expect(line).toMatch(/^8000x6000 \(the picture's own size\): about \S+ of dreaming on this machine; --size 1024 about \S+, --size 512 about \S+$/);
      expect(await pictureCostLine(runner, objective, DEFAULT_DREAM, { width: 320, height: 240 })).toBeUndefined();
    } finally {
      await runner.close();
    }
  });

  it('keeps the ETA honest: the first frame is its own step, the rate comes from recent frames only', () => {
    // A 2-minute first frame, then 0.5 s a frame: the rate is 2 frames/s, not 3 frames in 121 s.
    expect(recentRate([{ done: 1, at: 120_000 }, { done: 2, at: 120_500 }, { done: 3, at: 121_000 }], 10)).toBeCloseTo(2);
    // A job that got slower: the last 2 frames, 4 s apart, not the fast start.
    const marks = [0, 1, 2, 3, 4, 5, 6].map((done) => ({ done, at: done <= 4 ? done * 100 : 400 + (done - 4) * 4000 }));
    expect(recentRate(marks, 2)).toBeCloseTo(0.25);
    expect(recentRate(marks.slice(0, 1), 2)).toBeUndefined();
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const progress = new Progress('dreaming', 166, false, 'frames', 5000, { firstOwnStep: true });
      progress.update(1);
      progress.done();
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toMatch(/1\/166.*first frame \(full dream\) took [\d.]+s/);
    expect(written.join('')).not.toMatch(/frames\/s|ETA/);
  });

  it('--help says what each command takes: --resume only where it resumes, --no-adapt as itself, the defaults of --class-score and --blur-target', () => {
    expect(helpFor('image')).not.toMatch(/--resume/);
    expect(helpFor('live')).not.toMatch(/--resume/);
    for (const command of ['video', 'vr', 'stills'] as const) expect(helpFor(command)).toMatch(/--resume/);
    expect(helpFor('live')).toMatch(/--no-adapt\s+never lower steps or resolution to hold --fps/);
    expect(helpFor('image')).toMatch(/class score to raise with --class \(default logit\)/);
    expect(helpFor('image')).toMatch(/\(image\) \(default gradient\)/);
    expect(helpFor('image')).toMatch(/\.avif, \.gif\)/);
    expect(helpFor('video')).toMatch(/-i, --input IN {2,}the video file/);
    expect(helpFor('video')).toMatch(/--start N, -ss /);
  });

  it('wraps sheet captions inside their cell instead of cutting them (a 96-wide gallery cell)', () => {
    const lines = wrapLabel('inception_3b/5x5_reduce', 96);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.join('')).toBe('inception_3b/5x5_reduce');
    for (const line of lines) expect(line.length * 7.4).toBeLessThanOrEqual(96 - 8);
    expect(wrapLabel('1.25 s, frame 16/24', 400)).toEqual(['1.25 s, frame 16/24']);
  });

  it('npx dreamflow --help prints no npm warning', async () => {
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
      const child = spawn('npx', ['--no-install', 'dreamflow', '--help'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out, err }));
    });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^dreamflow — DeepDream/);
    // npm may add a notice of its own (a newer npm exists); no warning about this project's config.
    expect(r.err).not.toMatch(/npm warn|Unknown project config/i);
  });
});
