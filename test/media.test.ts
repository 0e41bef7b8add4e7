import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../src/errors.js';
import { FrameDecoder, evenFit, timingWarning } from '../src/media/decoder.js';
import { FrameEncoder } from '../src/media/encoder.js';
import { analyseFrameTiming, chooseFrameRate, probe, simplestRational, standardRate } from '../src/media/probe.js';
import { ensureExecutable, locateTools, resetToolCache } from '../src/media/locate.js';
import { MediaToolError, ffmpegRun, ffprobeRun, lastStderrLine } from '../src/media/run.js';
import type { Frame } from '../src/frame.js';
import { frameHashes, makeClip, makeHeaderDoubledAvi, makeVfrClip, removeDir, solidFrame, tempDir } from '../bench/fixtures/clips.js';

const T = 30_000;
let dir: string;
/** 96x64, 30000/1001 fps, 1 s (30 frames), 440 Hz AAC audio. */
let clip: string;

beforeAll(async () => {
  dir = await tempDir();
  clip = await makeClip({ pattern: 'testsrc2', width: 96, height: 64, fps: { num: 30000, den: 1001 }, seconds: 1.001, audio: true, dir, name: 'clip.mp4' });
}, T);

afterAll(async () => {
  await removeDir(dir);
});

async function collect(source: AsyncIterable<Frame>): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const f of source) frames.push(f);
  return frames;
}

interface CountedStream {
  codec_type: string;
  nb_read_frames?: string;
  r_frame_rate?: string;
  duration?: string;
  width?: number;
  height?: number;
}

/** ffprobe with -count_frames: the real number of decodable frames, not the container's claim. */
async function countedStreams(path: string): Promise<CountedStream[]> {
  const { stdout } = await ffprobeRun(['-v', 'error', '-count_frames', '-print_format', 'json', '-show_entries', 'stream=codec_type,nb_read_frames,r_frame_rate,duration,width,height', path]);
  return (JSON.parse(stdout.toString()) as { streams: CountedStream[] }).streams;
}

async function expectUserError(p: Promise<unknown>, pattern: RegExp): Promise<UserError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  expect((err as UserError).message).toMatch(pattern);
  // One line: the CLI prints the message alone.
  expect((err as UserError).message).not.toContain('\n');
  return err as UserError;
}

function meanOf(f: Frame): number {
  let s = 0;
  for (let i = 0; i < f.data.length; i++) s += f.data[i]!;
  return s / f.data.length;
}

describe('probe', () => {
  it('reports size, exact rational fps, duration, frame count and audio', async () => {
    const info = await probe(clip);
    expect(info.width).toBe(96);
    expect(info.height).toBe(64);
    expect(info.fps).toEqual({ num: 30000, den: 1001 });
    expect(info.durationSeconds).toBeGreaterThan(0.95);
    expect(info.durationSeconds).toBeLessThan(1.1);
    expect(info.frameCount).toBe(30);
    expect(info.hasAudio).toBe(true);
    expect(info.audio?.codec).toBe('aac');
    expect(info.audio?.sampleRate).toBe(44100);
    expect(info.audio?.channels).toBe(1);
    expect(info.rotation).toBe(0);
    expect(info.sampleAspectRatio).toEqual({ num: 1, den: 1 });
  }, T);

  it('applies container rotation to the reported and decoded size', async () => {
    const rotated = join(dir, 'rotated.mp4');
    await ffmpegRun(['-y', '-i', clip, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated]);
    const info = await probe(rotated);
    expect([90, 270]).toContain(info.rotation);
    expect(info.width).toBe(64);
    expect(info.height).toBe(96);
    const dec = await FrameDecoder.open(rotated, { maxFrames: 2 });
    const frames = await collect(dec);
    expect(frames.map((f) => [f.width, f.height])).toEqual([
      [64, 96],
      [64, 96],
    ]);
  }, T);

  it('chooses the exact rate when r_frame_rate and avg_frame_rate agree', () => {
    expect(chooseFrameRate('30000/1001', '30000/1001')).toEqual({ num: 30000, den: 1001 });
    expect(chooseFrameRate('30000/1001', '2997/100')).toEqual({ num: 30000, den: 1001 });
    // A variable-rate file: r is a timebase, avg is the real rate.
    expect(chooseFrameRate('90000/1', '25/1')).toEqual({ num: 25, den: 1 });
    expect(chooseFrameRate('0/0', '50/2')).toEqual({ num: 25, den: 1 });
  });
});

describe('bad inputs give one-line UserErrors naming the file', () => {
  it('missing file', async () => {
    const p = join(dir, 'nope.mp4');
    await expectUserError(probe(p), new RegExp(`^no such file: .*nope\\.mp4$`));
    await expectUserError(FrameDecoder.open(p), /no such file/);
  }, T);

  it('zero-length file', async () => {
    const p = join(dir, 'empty.mp4');
    await writeFile(p, '');
    await expectUserError(probe(p), /empty\.mp4: file is empty/);
  }, T);

  it('a text file named .mp4', async () => {
    const p = join(dir, 'notes.mp4');
    await writeFile(p, 'this is not a video\n'.repeat(50));
    await expectUserError(probe(p), /notes\.mp4: not a readable media file \(.+\)/);
  }, T);

  it('an audio-only file', async () => {
    const p = join(dir, 'tone.m4a');
    await ffmpegRun(['-y', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '0.5', '-c:a', 'aac', p]);
    await expectUserError(probe(p), /tone\.m4a: no video stream \(audio only \(aac\)\)/);
  }, T);

  it('a truncated mp4 with its index at the end cannot be opened', async () => {
    const full = await readFile(clip);
    const p = join(dir, 'cut-moov-last.mp4');
    await writeFile(p, full.subarray(0, Math.floor(full.length / 2)));
    await expectUserError(FrameDecoder.open(p), /cut-moov-last\.mp4: not a readable media file \(.*moov atom not found.*\)/);
  }, T);

  it('a truncated mp4 with its index first decodes the frames that are there, with a warning', async () => {
    const fast = await makeClip({ width: 96, height: 64, fps: 30, seconds: 2, dir, name: 'fast.mp4', faststart: true });
    const full = await readFile(fast);
    const p = join(dir, 'cut-faststart.mp4');
    await writeFile(p, full.subarray(0, Math.floor(full.length / 2)));
    const seen: string[] = [];
    const dec = await FrameDecoder.open(p, { onWarning: (m) => seen.push(m) });
    const frames = await collect(dec);
    expect(frames.length).toBeGreaterThan(5);
    expect(frames.length).toBeLessThan(60);
    expect(dec.warnings.length).toBeGreaterThan(0);
    expect(seen).toEqual(dec.warnings);
    expect(dec.warnings[0]).toContain('cut-faststart.mp4');
  }, T);

  it('a file with no decodable frames throws a UserError naming it', async () => {
    // A valid header followed by nothing: ffprobe accepts it, ffmpeg decodes no picture.
    const dec = await FrameDecoder.open(clip, { start: 50 });
    await expectUserError(collect(dec), /clip\.mp4: no video frames could be decoded \(is start 50s past the end\?\)/);
  }, T);

  it('output in a missing folder fails clearly and leaves nothing behind', async () => {
    const missing = join(dir, 'no-such-folder');
    await expectUserError(FrameEncoder.open(join(missing, 'out.mp4'), { width: 96, height: 64, fps: { num: 30, den: 1 } }), /out\.mp4: folder .*no-such-folder does not exist/);
    await expect(stat(missing)).rejects.toThrow();
  }, T);

  it('odd sizes for yuv420p are refused before ffmpeg starts', async () => {
    await expectUserError(FrameEncoder.open(join(dir, 'odd.mp4'), { width: 95, height: 64, fps: { num: 30, den: 1 } }), /even/);
  });

  it('an unknown encoder fails with ffmpeg’s reason and removes the temp file', async () => {
    const out = join(dir, 'badcodec.mp4');
    const enc = await FrameEncoder.open(out, { width: 96, height: 64, fps: { num: 30, den: 1 }, codec: 'libnope' });
    const err = await (async () => {
      for (let i = 0; i < 20; i++) await enc.write(solidFrame(96, 64, [i, i, i], i));
      await enc.close();
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/badcodec\.mp4 failed: .*(libnope|encoder)/i);
    const left = await readdir(dir);
    expect(left.filter((n) => n.includes('badcodec'))).toEqual([]);
  }, T);
});

describe('decode', () => {
  it('yields every frame once, exact size, with pts from the exact rate', async () => {
    const dec = await FrameDecoder.open(clip);
    expect(dec.info).toMatchObject({ width: 96, height: 64, fps: { num: 30000, den: 1001 }, frameCount: 30, hasAudio: true });
    const frames = await collect(dec);
    expect(frames.length).toBe(30);
    expect(frames.map((f) => f.index)).toEqual([...Array(30).keys()]);
    for (const f of frames) expect(f.data.length).toBe(96 * 64 * 3);
    expect(frames[29]!.ptsSeconds).toBeCloseTo((29 * 1001) / 30000, 9);
    // Distinct buffers: a consumer may keep frames.
    expect(frames[0]!.data.buffer).not.toBe(frames[1]!.data.buffer);
    expect(dec.warnings).toEqual([]);
  }, T);

  it('scales, seeks and trims', async () => {
    const long = await makeClip({ width: 96, height: 64, fps: 30, seconds: 2, dir, name: 'long.mp4' });
    const dec = await FrameDecoder.open(long, { size: { width: 48, height: 32 }, start: 0.5, duration: 0.5 });
    expect(dec.info.frameCount).toBe(15);
    const frames = await collect(dec);
    expect(frames.length).toBe(15);
    expect(frames[0]).toMatchObject({ width: 48, height: 32 });
    expect(frames[0]!.ptsSeconds).toBeCloseTo(0.5, 9);
    expect(frames[14]!.ptsSeconds).toBeCloseTo(0.5 + 14 / 30, 9);
    const fit = await FrameDecoder.open(long, { maxWidth: 50, maxFrames: 3 });
    expect(fit.info).toMatchObject({ width: 50, height: 34, frameCount: 3 });
    expect((await collect(fit)).length).toBe(3);
  }, T);

  it('evenFit keeps the aspect with even sizes and never enlarges', () => {
    expect(evenFit(1920, 1080, 256)).toEqual({ width: 256, height: 144 });
    expect(evenFit(853, 480, 1000)).toEqual({ width: 852, height: 480 });
    expect(evenFit(640, 360, 320, 100)).toEqual({ width: 178, height: 100 });
  });

  it('decodes a lavfi source', async () => {
    const dec = await FrameDecoder.lavfi('testsrc2=size=96x64:rate=10', { durationSeconds: 1 });
    expect(dec.info).toMatchObject({ width: 96, height: 64, fps: { num: 10, den: 1 }, frameCount: 10 });
    const frames = await collect(dec);
    expect(frames.length).toBe(10);
    expect(frames[9]!.ptsSeconds).toBeCloseTo(0.9, 9);
  }, T);

  it('breaking out early stops ffmpeg; a decoder is iterable once', async () => {
    const dec = await FrameDecoder.open(clip);
    let n = 0;
    for await (const f of dec) {
      expect(f.index).toBe(n);
      if (++n === 3) break;
    }
    expect(dec.framesDecoded).toBe(3);
    await dec.close();
    expect(() => dec[Symbol.asyncIterator]()).toThrow(/only once/);
  }, T);

  it('a slow consumer does not make the decoder buffer the whole file', async () => {
    // 160 frames of 320x240 = 37 MB of RGB. Read 5 frames slowly, then see how far ffmpeg got:
    // with backpressure it is blocked on the pipe after a handful of frames.
    const big = await makeClip({ pattern: 'mandelbrot', width: 320, height: 240, fps: 40, seconds: 4, dir, name: 'big.mp4' });
    const dec = await FrameDecoder.open(big);
    const before = process.memoryUsage().arrayBuffers;
    let n = 0;
    let aliveWhileSlow = true;
    for await (const f of dec) {
      expect(f.index).toBe(n);
      await new Promise((r) => setTimeout(r, 150));
      // Unthrottled, ffmpeg writes these 160 small frames in well under 0.3 s and exits.
      if (n >= 2) aliveWhileSlow &&= dec.running;
      if (++n === 5) break;
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(aliveWhileSlow).toBe(true);
    expect(grown).toBeLessThan(37e6 / 3);
    expect(dec.running).toBe(false);
  }, T);
});

describe('frame timing', () => {
  it('an AVI whose header declares twice its frames decodes at the rate of its chunk timestamps', async () => {
    // 25 fps pictures, each followed by an empty chunk: the header says 50 fps and 99 frames.
    const avi = await makeHeaderDoubledAvi({ width: 96, height: 64, fps: 25, seconds: 2, dir, name: 'doubled.avi' });
    const info = await probe(avi);
    expect(info.fps).toEqual({ num: 50, den: 1 });
    expect(info.frameCount).toBe(99);
    const dec = await FrameDecoder.open(avi);
    expect(dec.info).toMatchObject({ fps: { num: 25, den: 1 }, frameCount: 50, durationSeconds: 2 });
    expect(dec.timing).toMatchObject({ variable: false, frames: 50 });
    const frames = await collect(dec);
    expect(frames.length).toBe(50);
    expect(frames[49]!.ptsSeconds).toBeCloseTo(49 / 25, 9);
    expect(dec.warnings).toEqual([]);
    expect(timingWarning('doubled.avi', dec.media, dec.timing)).toMatch(/header says 50 fps and 99 frames, .*50 frames .*0\.04 s apart: using 25 fps \(2\.00 s\)$/);
  }, T);

  it('a variable-rate clip is resampled by its timestamps: every frame shown within half a frame of its time', async () => {
    const vfr = await makeVfrClip({ width: 96, height: 64, runs: [[10, 0.1], [8, 0.25]], dir, name: 'vfr.mkv' });
    // The clip's own frames and times, as ffmpeg and ffprobe see them.
    const source = await frameHashes(vfr, { pixFmt: 'rgb24' });
    const { stdout } = await ffprobeRun(['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', vfr]);
    const times = stdout.toString().trim().split('\n').map(Number).sort((a, b) => a - b);
    expect(source.length).toBe(18);
    expect(new Set(source).size).toBe(18);
    expect(times.length).toBe(18);

    const dec = await FrameDecoder.open(vfr);
    // The median step, 0.1 s: nothing dropped, the 0.25 s frames shown 2 or 3 times.
    expect(dec.info).toMatchObject({ fps: { num: 10, den: 1 }, frameCount: 28 });
    const shown = (await collect(dec)).map((f) => source.indexOf(createHash('md5').update(f.data).digest('hex')));
    expect(shown.length).toBe(28);
    expect(shown).toEqual([...shown].sort((a, b) => a - b));
    // Every frame that lasts a slot (0.1 s) or more is shown. The last one lasts one 0.05 s tick
    // (what the muxer writes for it) and may fall between two slots.
    for (let i = 0; i < 17; i++) {
      const slot = shown.indexOf(i);
      expect(slot, `frame ${i}`).toBeGreaterThanOrEqual(0);
      expect(Math.abs(slot - (times[i]! - times[0]!) * 10), `frame ${i} at ${times[i]} s shown in slot ${slot}`).toBeLessThanOrEqual(0.5 + 1e-9);
    }
    expect(timingWarning('vfr.mkv', dec.media, dec.timing)).toMatch(/variable frame rate \(frames 0\.1 to 0\.25 s apart\): made constant at 10 fps .*18 frames become 28/);
  }, T);

  it('tells steady frames from variable ones, and takes the rate from the timestamps when the header is wrong', () => {
    const ticks = (n: number, step: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => step(i));
    const ntsc = { num: 30000, den: 1001 };
    // A millisecond clock (Matroska) rounds 30000/1001 fps to steps of 33 and 34 ms: steady.
    const mkv = analyseFrameTiming({ timeBase: { num: 1, den: 1000 }, ticks: ticks(300, (i) => Math.round((i * 1001) / 30)) }, [ntsc]);
    expect(mkv).toMatchObject({ variable: false, fps: ntsc, frames: 300 });
    // One frame lost by a camera: each frame once is still within a frame of its time.
    const lost = analyseFrameTiming({ timeBase: { num: 1, den: 25 }, ticks: ticks(100, (i) => (i < 50 ? i : i + 1)) }, [{ num: 25, den: 1 }]);
    expect(lost).toMatchObject({ variable: false, fps: { num: 25, den: 1 } });
    // The doubled AVI header: chunk numbers step by 2 at 1/50 s; only the mean rate fits.
    const avi = analyseFrameTiming({ timeBase: { num: 1, den: 50 }, ticks: ticks(341, (i) => 2 * i), lastDuration: 1 }, [{ num: 50, den: 1 }]);
    expect(avi).toMatchObject({ variable: false, fps: { num: 25, den: 1 }, frames: 341 });
    expect(avi!.seconds).toBeCloseTo(13.64, 9);
    // Five frames lost in a row is no longer steady: resampled at the usual step's rate.
    const gap = analyseFrameTiming({ timeBase: { num: 1, den: 25 }, ticks: ticks(100, (i) => (i < 50 ? i : i + 5)) }, [{ num: 25, den: 1 }]);
    expect(gap).toMatchObject({ variable: true, fps: { num: 25, den: 1 } });
    expect(gap!.seconds).toBeCloseTo(104 / 25 + 1 / 25, 9);
    // 0.1 s then 0.25 s steps (a 90 kHz clock, which is also what r_frame_rate says).
    const vfr = analyseFrameTiming({ timeBase: { num: 1, den: 90000 }, ticks: ticks(18, (i) => (i < 10 ? i * 9000 : 90000 + (i - 10) * 22500)), lastDuration: 22500 }, [{ num: 90000, den: 1 }, { num: 36, den: 5 }]);
    expect(vfr).toMatchObject({ variable: true, fps: { num: 10, den: 1 } });
    expect([vfr!.minStep, vfr!.maxStep].map((s) => Number(s.toFixed(9)))).toEqual([0.1, 0.25]);
    expect(vfr!.seconds).toBeCloseTo(2.75 + 0.25, 9);
    // One frame, or all at one time: nothing to measure.
    expect(analyseFrameTiming({ timeBase: { num: 1, den: 25 }, ticks: [0] }, [])).toBeUndefined();
    expect(analyseFrameTiming({ timeBase: { num: 1, den: 25 }, ticks: [3, 3] }, [])).toBeUndefined();
  });

  it('simplestRational finds readable exact rates', () => {
    expect(simplestRational(25.0000001, 1e-6)).toEqual({ num: 25, den: 1 });
    expect(simplestRational(30000 / 1001, 1e-9)).toEqual({ num: 30000, den: 1001 });
    expect(simplestRational(30000 / 1001, 1e-7)).toEqual({ num: 10999, den: 367 });
    // Hence standard rates first: a mean of 29.97002 fps is 30000/1001, 25.0001 is 25.
    expect(standardRate(29.97002, 1e-6)).toEqual({ num: 30000, den: 1001 });
    expect(standardRate(25.0001, 1e-5)).toEqual({ num: 25, den: 1 });
    expect(standardRate(12.5, 1e-3)).toBeUndefined();
    expect(simplestRational(30000 / 1001, 1e-2)).toEqual({ num: 30, den: 1 });
    expect(simplestRational(12.5, 1e-9)).toEqual({ num: 25, den: 2 });
  });
});

describe('encode', () => {
  it('round trip keeps frame count, rate, duration and audio', async () => {
    const out = join(dir, 'roundtrip.mp4');
    const dec = await FrameDecoder.open(clip);
    const enc = await FrameEncoder.open(out, { ...dec.info, audioFrom: { path: clip } });
    for await (const f of dec) await enc.write(f);
    await enc.close();
    expect(enc.framesWritten).toBe(30);
    const streams = await countedStreams(out);
    const v = streams.find((s) => s.codec_type === 'video')!;
    const a = streams.find((s) => s.codec_type === 'audio');
    expect(Number(v.nb_read_frames)).toBe(30);
    expect(v.r_frame_rate).toBe('30000/1001');
    expect(Number(v.duration)).toBeCloseTo(1.001, 2);
    expect(a).toBeDefined();
    expect(Math.abs(Number(a!.duration) - 1.0)).toBeLessThan(0.05);
    const info = await probe(out);
    expect(info.fps).toEqual({ num: 30000, den: 1001 });
    expect(info.audio?.codec).toBe('aac');
  }, T);

  it('keeps audio aligned when only part of the input is used', async () => {
    const long = await makeClip({ width: 96, height: 64, fps: 25, seconds: 3, audio: true, dir, name: 'long-audio.mp4' });
    const out = join(dir, 'part.mp4');
    const dec = await FrameDecoder.open(long, { start: 1, duration: 1 });
    const enc = await FrameEncoder.open(out, { ...dec.info, audioFrom: { path: long, start: 1, duration: 1 } });
    for await (const f of dec) await enc.write(f);
    await enc.close();
    const streams = await countedStreams(out);
    expect(Number(streams.find((s) => s.codec_type === 'video')!.nb_read_frames)).toBe(25);
    expect(Math.abs(Number(streams.find((s) => s.codec_type === 'audio')!.duration) - 1)).toBeLessThan(0.05);
  }, T);

  it('keeps frames in order (each frame a distinct grey level)', async () => {
    const out = join(dir, 'ramp.mp4');
    const n = 40;
    const enc = await FrameEncoder.open(out, { width: 64, height: 48, fps: { num: 24, den: 1 } });
    for (let i = 0; i < n; i++) {
      const level = 20 + i * 5;
      await enc.write(solidFrame(64, 48, [level, level, level], i));
    }
    await enc.close();
    const frames = await collect(await FrameDecoder.open(out));
    expect(frames.length).toBe(n);
    const levels = frames.map(meanOf);
    for (let i = 0; i < n; i++) expect(Math.abs(levels[i]! - (20 + i * 5))).toBeLessThan(2.5);
    const [c] = await countedStreams(out);
    expect(Number(c!.nb_read_frames)).toBe(n);
  }, T);

  it('writes a hidden temp file and renames on close; abort leaves nothing', async () => {
    const out = join(dir, 'atomic.mp4');
    const enc = await FrameEncoder.open(out, { width: 96, height: 64, fps: { num: 30, den: 1 } });
    expect(enc.tempPath).toBe(join(dir, `.atomic.partial-${process.pid}${enc.tempPath.match(/partial-\d+(-\d+)?/)![1] ?? ''}.mp4`));
    for (let i = 0; i < 10; i++) await enc.write(solidFrame(96, 64, [i * 20, 0, 0], i));
    // Give ffmpeg a moment to create its output file.
    await new Promise((r) => setTimeout(r, 300));
    let names = await readdir(dir);
    expect(names).not.toContain('atomic.mp4');
    expect(names.some((n) => n.startsWith('.atomic.partial-'))).toBe(true);
    await enc.close();
    names = await readdir(dir);
    expect(names).toContain('atomic.mp4');
    expect(names.some((n) => n.startsWith('.atomic.partial-'))).toBe(false);

    const out2 = join(dir, 'aborted.mp4');
    const enc2 = await FrameEncoder.open(out2, { width: 96, height: 64, fps: { num: 30, den: 1 } });
    for (let i = 0; i < 10; i++) await enc2.write(solidFrame(96, 64, [0, i * 20, 0], i));
    await new Promise((r) => setTimeout(r, 300));
    await enc2.abort();
    names = await readdir(dir);
    expect(names.filter((n) => n.includes('aborted'))).toEqual([]);
    await expect(enc2.write(solidFrame(96, 64, [0, 0, 0]))).rejects.toThrow(/aborted/);
  }, T);

  it('closing with no frames saves nothing and says so', async () => {
    const out = join(dir, 'nothing.mp4');
    const enc = await FrameEncoder.open(out, { width: 96, height: 64, fps: { num: 30, den: 1 } });
    await expectUserError(enc.close(), /no frames were written/);
    expect((await readdir(dir)).filter((n) => n.includes('nothing'))).toEqual([]);
  }, T);

  it('rejects frames of the wrong size', async () => {
    const enc = await FrameEncoder.open(join(dir, 'size.mp4'), { width: 96, height: 64, fps: { num: 30, den: 1 } });
    await expect(enc.write(solidFrame(48, 32, [0, 0, 0]))).rejects.toThrow(/48x32/);
    await enc.abort();
  }, T);
});

describe('ffmpegRun', () => {
  it('rejects with the last stderr line', async () => {
    const err = await ffmpegRun(['-i', join(dir, 'missing-input.mp4'), '-f', 'null', '-']).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MediaToolError);
    expect((err as MediaToolError).lastLine).toMatch(/No such file or directory/);
    expect(lastStderrLine('a\nb\n\n  \n')).toBe('b');
  }, T);
});

describe('locate', () => {
  it('honours FFMPEG_PATH, then PATH, then the bundled binary', async () => {
    const saved = { ff: process.env['FFMPEG_PATH'], path: process.env['PATH'] };
    try {
      resetToolCache();
      const bundled = await locateTools();
      expect(bundled.ffmpeg.path).toMatch(/ffmpeg/);

      const notExe = join(dir, 'not-ffmpeg');
      await writeFile(notExe, 'x');
      process.env['FFMPEG_PATH'] = notExe;
      resetToolCache();
      await expectUserError(locateTools(), /^FFMPEG_PATH=.*not-ffmpeg is not an executable file$/);

      delete process.env['FFMPEG_PATH'];
      const binDir = join(dir, 'bin');
      await mkdir(binDir, { recursive: true });
      await symlink(bundled.ffmpeg.path, join(binDir, 'ffmpeg'));
      process.env['PATH'] = binDir;
      resetToolCache();
      const fromPath = await locateTools();
      expect(fromPath.ffmpeg).toEqual({ path: join(binDir, 'ffmpeg'), origin: 'path' });
      expect(fromPath.ffprobe.origin).toBe(bundled.ffprobe.origin === 'env' ? 'env' : 'bundled');
      expect(fromPath.passthroughArgs).toEqual(bundled.passthroughArgs);
    } finally {
      if (saved.ff === undefined) delete process.env['FFMPEG_PATH'];
      else process.env['FFMPEG_PATH'] = saved.ff;
      process.env['PATH'] = saved.path;
      resetToolCache();
    }
  }, T);

  it('makes a bundled binary executable when npm skipped the chmod, or says how to fix it', async () => {
    const f = join(dir, 'fake-tool');
    await writeFile(f, '#!/bin/sh\n');
    await chmod(f, 0o644);
    await ensureExecutable(f, 'ffmpeg');
    expect((await stat(f)).mode & 0o111).not.toBe(0);
    await expectUserError(ensureExecutable(join(dir, 'gone'), 'ffprobe'), /bundled ffprobe at .*gone is not executable and chmod failed .*chmod \+x/);
  }, T);
});
