import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../src/media/probe.js';
import { ffmpegRun, ffprobeRun } from '../src/media/run.js';
import type { VideoSummary } from '../src/pipeline/videoFile.js';
import { lastJson, runCli } from './helpers/cli.js';
import { frameHashes, makeClip, makeHeaderDoubledAvi, makePanClip, makeVfrClip } from '../bench/fixtures/clips.js';
import { BIN, tempDir } from './helpers/paths.js';

/** Cheap dream settings: the video machinery is under test here, not the depth of the dream. */
const FAST = ['--octaves', '1', '--iterations', '2', '--frame-iterations', '1', '--layer', 'inception_3b/output'];

describe('dreamflow video', () => {
  let dir: string;
  let clip: string;
  beforeAll(async () => {
    dir = tempDir();
    // 30000/1001 fps with a sine track: the rate must survive as a rational, the sound must survive.
    clip = await makeClip({ pattern: 'testsrc2', width: 96, height: 64, fps: '30000/1001', seconds: 0.7, audio: true, dir, name: 'clip.mp4' });
  });

  it('keeps every frame, the exact frame rate, the duration and the sound', async () => {
    const out = join(dir, 'out.mp4');
    const r = await runCli(['video', clip, '-o', out, ...FAST, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = lastJson<VideoSummary>(r.stdout);
    const [inInfo, outInfo] = [await probe(clip), await probe(out)];
    expect(result.frames).toBe(inInfo.frameCount);
    expect(outInfo.frameCount).toBe(inInfo.frameCount);
    expect(outInfo.fps).toEqual({ num: 30000, den: 1001 });
    expect(result.frameRate).toBe('30000/1001');
    expect(Math.abs(outInfo.durationSeconds - inInfo.durationSeconds)).toBeLessThan(0.1);
    expect(outInfo.hasAudio).toBe(true);
    expect(Math.abs(outInfo.audio!.durationSeconds! - inInfo.audio!.durationSeconds!)).toBeLessThan(0.1);
    expect([outInfo.width, outInfo.height]).toEqual([96, 64]);
    // Cheap settings (one octave, one step per carried frame) dream lightly, but a pass-through
    // would give exactly 1.
    expect(result.dreamGain).toBeGreaterThan(1.05);
    expect(result.backend).toBe('onnx');
    // Nothing but the output is left in the folder: no temp file, no work folder.
    expect(readdirSync(dir).sort()).toEqual(['clip.mp4', 'out.mp4']);
  });

  it('after SIGKILL, --resume gives the same frames as an uninterrupted run', async () => {
    const whole = join(dir, 'whole.mp4');
    const args = ['--seed', '3', ...FAST];
    expect((await runCli(['video', clip, '-o', whole, ...args])).code).toBe(0);

    const resumed = join(dir, 'resumed.mp4');
    const work = join(dir, '.resumed.mp4.dreamflow');
    const child = spawn(process.execPath, [BIN, 'video', clip, '-o', resumed, ...args, '--quiet'], { stdio: 'ignore' });
    // Kill it once a few frames are committed (state.bin is replaced after every frame). A frame's
    // file is written before its commit, so six files mean at least five commits.
    const state = join(work, 'state.bin');
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !(existsSync(state) && readdirSync(work).filter((f) => f.endsWith('.rgb')).length >= 6)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(existsSync(resumed)).toBe(false);
    expect(existsSync(state)).toBe(true);

    const r = await runCli(['video', clip, '-o', resumed, ...args, '--resume', '--json']);
    expect(r.code).toBe(0);
    const result = lastJson<VideoSummary>(r.stdout);
    expect(result.resumedFrom).toBeGreaterThanOrEqual(5);
    expect(await frameHashes(resumed)).toEqual(await frameHashes(whole));
    expect(existsSync(work)).toBe(false);
  });

  it('stops on Ctrl-C with a hint to resume, keeping its progress', async () => {
    const out = join(dir, 'interrupted.mp4');
    // The default dream: the Ctrl-C lands while a tile's gradient runs in the engine's thread
    // (ending that thread mid-run once aborted the process: exit 134, no hint).
    const child = spawn(process.execPath, [BIN, 'video', clip, '-o', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const work = join(dir, '.interrupted.mp4.dreamflow');
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !existsSync(join(work, 'state.bin'))) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted after \d+ finished frame\(s\); run the same command with --resume/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(work, 'state.bin'))).toBe(true);
  });

  describe('refuses bad input with one clear line and no output', () => {
    const cases: Array<[string, (d: string) => Promise<string>, RegExp]> = [
      ['a missing file', async (d) => join(d, 'missing.mp4'), /no such file|does not exist/],
      ['a text file named .mp4', async (d) => {
        const p = join(d, 'notes.mp4');
        writeFileSync(p, 'this is not a video\n'.repeat(20));
        return p;
      }, /notes\.mp4/],
      ['a zero-length file', async (d) => {
        const p = join(d, 'empty.mp4');
        writeFileSync(p, '');
        return p;
      }, /empty\.mp4.*(empty|0 bytes)/],
      ['an audio-only file', async (d) => {
        const p = join(d, 'tone.m4a');
        await ffmpegRun(['-y', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '0.5', '-c:a', 'aac', p]);
        return p;
      }, /tone\.m4a.*(no video|audio)/i],
    ];
    it.each(cases)('%s', async (_, make, message) => {
      const d = tempDir();
      const input = await make(d);
      const out = join(d, 'out.mp4');
      const r = await runCli(['video', input, '-o', out, ...FAST]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(d).filter((f) => f.startsWith('.'))).toEqual([]);
    });

    it('an output that is the input (also through a link, also from a pipeline file): refused before any work, input unchanged', async () => {
      const d = tempDir();
      const input = join(d, 'a.mp4');
      copyFileSync(clip, input);
      const before = createHash('sha256').update(readFileSync(input)).digest('hex');
      symlinkSync(input, join(d, 'link.mp4'));
      for (const out of [input, join(d, 'link.mp4'), join(d, '.', 'a.mp4')]) {
        const r = await runCli(['video', input, '-o', out, ...FAST]);
        expect(r.code, out).toBe(2);
        expect(r.stderr).toMatch(/is the input .*a\.mp4: write the dream to another file/);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
      }
      const file = join(d, 'p.json');
      writeFileSync(file, JSON.stringify({ source: { kind: 'video', path: input }, stages: [{ kind: 'dream' }], sinks: [{ kind: 'video', path: input }] }));
      expect((await runCli(['run', file])).code).toBe(2);
      const image = join(d, 'still.png');
      await ffmpegRun(['-y', '-i', clip, '-frames:v', '1', image]);
      expect((await runCli(['image', image, '-o', image])).code).toBe(2);
      expect(createHash('sha256').update(readFileSync(input)).digest('hex')).toBe(before);
      expect(readdirSync(d).filter((f) => f.startsWith('.'))).toEqual([]);
    });

    it('names that look like options or protocols are read as local files', async () => {
      const d = tempDir();
      // A folder named like a URL scheme, a file named like ffmpeg's concat protocol, one like an option.
      mkdirSync(join(d, 'http:'));
      copyFileSync(clip, join(d, 'http:', 'clip.mp4'));
      copyFileSync(clip, join(d, 'concat:a.mp4|b.mp4'));
      copyFileSync(clip, join(d, '-dash.mp4'));
      for (const [name, out] of [['http:/clip.mp4', 'o1.mp4'], ['concat:a.mp4|b.mp4', 'o2.mp4'], ['-dash.mp4', 'o3.mp4']] as const) {
        const r = await runCli(['video', '-o', out, ...FAST, '--json', '--', name], { cwd: d });
        expect(r.code, `${name}: ${r.stderr}`).toBe(0);
        expect(lastJson<VideoSummary>(r.stdout).frames).toBe((await probe(clip)).frameCount);
      }
      // "-report" is a missing file, not ffprobe's option to write a log here.
      const r = await runCli(['video', '-o', 'o4.mp4', ...FAST, '--', '-report'], { cwd: d });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(readdirSync(d).filter((f) => f.endsWith('.log'))).toEqual([]);
    });

    it('a file with an index but no decodable frame: one line, and no work folder left behind', async () => {
      const d = tempDir();
      const cut = join(d, 'cut.mp4');
      await ffmpegRun(['-y', '-i', clip, '-c', 'copy', '-movflags', '+faststart', cut]);
      // Keep the index (at the front) and almost none of the media data.
      const mdat = readFileSync(cut).indexOf(Buffer.from('mdat'));
      truncateSync(cut, mdat + 64);
      const out = join(d, 'out.mp4');
      const r = await runCli(['video', cut, '-o', out, ...FAST]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(d).filter((f) => f.startsWith('.'))).toEqual([]);
    });

    it('a one-frame input gives a valid one-frame output', async () => {
      const d = tempDir();
      const one = join(d, 'one.mp4');
      await ffmpegRun(['-y', '-i', clip, '-frames:v', '1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', one]);
      const out = join(d, 'out.mp4');
      const r = await runCli(['video', one, '-o', out, ...FAST, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const result = lastJson<VideoSummary>(r.stdout);
      expect(result.frames).toBe(1);
      expect(result.flickerRatio).toBeNull();
      expect((await probe(out)).frameCount).toBe(1);
    });

    it('an output path in a missing folder', async () => {
      const r = await runCli(['video', clip, '-o', join(dir, 'nope', 'out.mp4'), ...FAST]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/folder .*nope.* does not exist|output folder does not exist/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });

    it('a file whose tail is corrupt is dreamed up to its last decodable frame, with a warning', async () => {
      const d = tempDir();
      const damaged = join(d, 'damaged.mp4');
      copyFileSync(clip, damaged);
      // The mdat sits before the index in ffmpeg's default layout: re-encode with the index first,
      // then cut the file so the last frames' data is missing.
      await ffmpegRun(['-y', '-i', clip, '-c', 'copy', '-movflags', '+faststart', damaged]);
      truncateSync(damaged, Math.floor(statSync(damaged).size * 0.7));
      const out = join(d, 'out.mp4');
      const r = await runCli(['video', damaged, '-o', out, ...FAST, '--json']);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/warning/);
      const frames = lastJson<VideoSummary>(r.stdout).frames;
      expect(frames).toBeGreaterThan(0);
      expect((await probe(out)).frameCount).toBe(frames);
    });
  });
});

/** Seconds of the first video and audio streams, as ffprobe states them. */
async function streamSeconds(path: string): Promise<{ video: number; audio: number }> {
  const { stdout } = await ffprobeRun(['-v', 'error', '-show_entries', 'stream=codec_type,duration', '-of', 'json', path]);
  const streams = (JSON.parse(stdout.toString()) as { streams: Array<{ codec_type: string; duration?: string }> }).streams;
  const of = (type: string): number => Number(streams.find((s) => s.codec_type === type)?.duration);
  return { video: of('video'), audio: of('audio') };
}

/** Seconds from the first frame's start to the last one's end, by the packets' own timestamps. */
async function packetSeconds(path: string): Promise<number> {
  const { stdout } = await ffprobeRun(['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', path]);
  const rows = stdout.toString().trim().split('\n').map((l) => l.split(',').map(Number) as [number, number]).sort((a, b) => a[0] - b[0]);
  return rows.at(-1)![0] + rows.at(-1)![1] - rows[0]![0];
}

function within(actual: number, expected: number, fraction: number): void {
  expect(Math.abs(actual - expected), `${actual} s against ${expected} s`).toBeLessThanOrEqual(fraction * expected);
}

describe('frame timing', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });

  it('an AVI whose header declares twice its frames comes out at the true rate, in sync with its sound', async () => {
    // 2 s of 25 fps pictures and PCM sound; the header says 50 fps and 99 frames, and the packets
    // carry no timestamps (bench/fixtures/clips.ts says how it is made).
    const avi = await makeHeaderDoubledAvi({ width: 96, height: 64, fps: 25, seconds: 2, dir, name: 'camera.avi' });
    const out = join(dir, 'camera.mp4');
    const r = await runCli(['video', avi, '-o', out, ...FAST, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const seconds = await streamSeconds(out);
    within(seconds.video, 2, 0.02);
    within(seconds.audio, seconds.video, 0.02);
    const result = lastJson<VideoSummary>(r.stdout);
    expect(result.frames).toBe(50);
    expect(result.frameRate).toBe('25/1');
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/warning: .*camera\.avi: the header says 50 fps and 99 frames, .* using 25 fps \(2\.00 s\)$/)]);
  });

  it('a variable-rate clip keeps its duration and its sync with the sound (one warning), and resumes to the same frames', async () => {
    // 10 frames 0.1 s apart, then 8 frames 0.25 s apart, with as long a sine tone.
    const vfr = await makeVfrClip({ width: 96, height: 64, runs: [[10, 0.1], [8, 0.25]], audio: true, dir, name: 'vfr.mkv' });
    const inputSeconds = await packetSeconds(vfr);
    expect(inputSeconds).toBeCloseTo(2.8, 3);
    const whole = join(dir, 'vfr.mp4');
    const args = ['--seed', '3', ...FAST];
    const r = await runCli(['video', vfr, '-o', whole, ...args, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const seconds = await streamSeconds(whole);
    within(seconds.video, inputSeconds, 0.02);
    within(seconds.audio, seconds.video, 0.02);
    expect(lastJson<VideoSummary>(r.stdout)).toMatchObject({ frames: 28, frameRate: '10/1' });
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/warning: .*vfr\.mkv: variable frame rate \(frames 0\.1 to 0\.25 s apart\): made constant at 10 fps/)]);

    // Resampled frames are numbered the same way on every run: a resume continues exactly.
    const resumed = join(dir, 'vfr-resumed.mp4');
    const work = join(dir, '.vfr-resumed.mp4.dreamflow');
    const child = spawn(process.execPath, [BIN, 'video', vfr, '-o', resumed, ...args, '--quiet'], { stdio: 'ignore' });
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !(existsSync(join(work, 'state.bin')) && readdirSync(work).filter((f) => f.endsWith('.rgb')).length >= 6)) {
      await new Promise((res) => setTimeout(res, 50));
    }
    child.kill('SIGKILL');
    await new Promise((res) => child.on('close', res));
    const again = await runCli(['video', vfr, '-o', resumed, ...args, '--resume', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(lastJson<VideoSummary>(again.stdout).resumedFrom).toBeGreaterThanOrEqual(5);
    expect(await frameHashes(resumed)).toEqual(await frameHashes(whole));
  });
});

describe('temporal coherence on a real camera pan', () => {
  let dir: string;
  let pan: string;
  beforeAll(async () => {
    dir = tempDir();
    pan = await makePanClip({ width: 128, height: 80, fps: 10, seconds: 1, dx: 2, dy: 1, dir, name: 'pan.mp4' });
  });
  afterAll(() => undefined);

  it('flow halves the flicker of per-frame dreaming or better, and still dreams (gain ≥ 1.5)', async () => {
    const dream = ['--octaves', '2', '--iterations', '6', '--seed', '1', '--json', '--quiet'];
    const naive = await runCli(['video', pan, '-o', join(dir, 'naive.mp4'), '--no-flow', ...dream]);
    const coherent = await runCli(['video', pan, '-o', join(dir, 'coherent.mp4'), ...dream]);
    expect(naive.code).toBe(0);
    expect(coherent.code).toBe(0);
    const a = lastJson<VideoSummary>(naive.stdout);
    const b = lastJson<VideoSummary>(coherent.stdout);
    expect(b.flickerRatio).toBeLessThanOrEqual(a.flickerRatio! / 2);
    expect(b.dreamGain).toBeGreaterThanOrEqual(1.5);
    expect(a.flickerRatio).toBeGreaterThan(1);
  });
});
