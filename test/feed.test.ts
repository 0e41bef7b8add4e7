/**
 * The live feed where people put it (issue 22): `/stream.mjpg` read by a real ffmpeg and by a
 * reader that never reads, output checks before any work, the v4l2 virtual camera's arguments
 * and errors, and sound in live recordings. Real sockets on 127.0.0.1, real ffmpeg, the real model.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { layer, type Objective } from '../src/dream/objectives.js';
import { createRunner, type GradientRunner } from '../src/dream/runner.js';
import { locateTools } from '../src/media/locate.js';
import { ffmpegRun, ffprobeRun } from '../src/media/run.js';
import { liveLook } from '../src/dream/looks.js';
import { LIVE_DREAM, LIVE_TEMPORAL } from '../src/pipeline/liveDefaults.js';
import { specFromArgs, withDefaults } from '../src/pipeline/spec.js';
import { loadManifest } from '../src/models/manifest.js';
import { type LiveOptions, type LiveSession } from '../src/pipeline/liveSession.js';
import { parsePushTarget, pushOutputArgs } from '../src/sinks/push.js';
import { modprobeCommand, parseV4l2Target, v4l2Problem } from '../src/sinks/v4l2.js';
import { connectViewer, preloadOpenCv, sleep, startLiveCommand, startSmallLive, waitFor } from './helpers/live.js';
import { tempDir } from './helpers/paths.js';

const CHEAP = { ...LIVE_TEMPORAL, dream: { ...LIVE_DREAM, octaves: 1, iterations: 2 }, frameIterations: 1 };

let runner: GradientRunner;
let objective: Objective;
let session: LiveSession | undefined;
const dirs: string[] = [];

function scratch(): string {
  const d = tempDir('dreamflow-feed-');
  dirs.push(d);
  return d;
}

function live(opts: Partial<LiveOptions>): Promise<LiveSession> {
  return startSmallLive(runner, objective, CHEAP, { fps: 5, ...opts });
}

beforeAll(async () => {
  preloadOpenCv();
  runner = await createRunner({ backend: 'onnx', workers: 1, quiet: true });
  objective = layer(runner.layerName('inception_3b/output'));
});

afterEach(async () => {
  await session?.close();
  session = undefined;
});

afterAll(async () => {
  await runner?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Status of a plain GET (the body is not waited for: a stream never ends). */
async function getStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  ac.abort();
  return res.status;
}

describe('/stream.mjpg', () => {
  it('ffmpeg reads it as a client and decodes about fps frames a second', async () => {
    const fps = 5;
    session = await live({ fps });
    const url = session.url;
    await waitFor(() => session!.scheduler.stats().frames >= 5, 60_000, 'five dreamed frames');
    // framemd5 prints one line per decoded frame as it arrives.
    const ff = spawn((await locateTools()).ffmpeg.path, ['-hide_banner', '-loglevel', 'error', '-f', 'mpjpeg', '-i', `${url}stream.mjpg`, '-f', 'framemd5', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    ff.stdout.on('data', (d: Buffer) => (out += d.toString()));
    ff.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((r) => ff.on('close', () => r()));
    await sleep(5000);
    const frames = out.split('\n').filter((l) => /^\d+,/.test(l));
    ff.kill('SIGKILL');
    await exited;
    console.log(`mjpeg: ffmpeg decoded ${frames.length} frames in 5 s at --fps ${fps}`);
    expect(err).toBe('');
    expect(frames.length).toBeGreaterThanOrEqual(Math.ceil(0.9 * fps * 5));
    // 96x64 decoded from JPEG (yuvj420p: 96·64·1.5 bytes; framemd5's fifth column is the size).
    expect(frames[0]!.split(',')[4]!.trim()).toBe(String(96 * 64 * 1.5));
  });

  it('same token and Host/Origin rules as the WebSocket', async () => {
    session = await live({ token: 'control-secret', viewerToken: 'viewer-secret' });
    const base = `${session.url}stream.mjpg`;
    expect(await getStatus(base)).toBe(401);
    expect(await getStatus(`${base}?token=wrong-token`)).toBe(401);
    expect(await getStatus(`${base}?token=viewer-secret`)).toBe(200);
    expect(await getStatus(`${base}?token=control-secret`, { Origin: 'http://evil.example' })).toBe(403);
    expect(await getStatus(base, { Authorization: 'Bearer viewer-secret' })).toBe(200);
  });

  it('a reader that never reads drops frames: its buffer stays bounded and the others keep their rate', async () => {
    const maxBufferedBytes = 64 << 10;
    session = await live({
      input: 'lavfi:testsrc2=size=320x180:rate=8,noise=alls=80:allf=t+u',
      size: { width: 320, height: 180 },
      fps: 8,
      levels: [{ iterations: 1, scale: 0.3 }],
      server: { jpegQuality: 100, maxBufferedBytes },
    });
    const port = session.port;
    // A raw socket that asks for the stream and then never reads a byte.
    const stuck = connect(port, '127.0.0.1');
    stuck.on('error', () => undefined);
    stuck.write(`GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    stuck.pause();
    await waitFor(() => (session!.server.mjpegStats()[0]?.skipped ?? 0) >= 3, 60_000, 'the stuck reader to drop frames');
    // A second, reading client still gets frames at the rate.
    let bytes = 0;
    const reading = connect(port, '127.0.0.1');
    reading.on('data', (d: Buffer) => (bytes += d.length));
    reading.write(`GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    const frameBytes = session.server.stats().lastFrameBytes;
    const mem0 = process.memoryUsage().rss;
    const skipped0 = session.server.mjpegStats()[0]!.skipped;
    let maxBuffered = 0;
    const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, session!.server.mjpegStats()[0]!.bufferedBytes)), 50);
    await sleep(4000);
    clearInterval(sampler);
    const [slow, fast] = session.server.mjpegStats();
    expect(slow!.skipped).toBeGreaterThan(skipped0 + 10);
    expect(maxBuffered).toBeLessThanOrEqual(maxBufferedBytes + frameBytes + 200);
    expect(fast!.sent).toBeGreaterThan(0.6 * 8 * 4);
    expect(bytes).toBeGreaterThan(20 * 40_000);
    expect(process.memoryUsage().rss - mem0).toBeLessThan(64 << 20);
    stuck.destroy();
    reading.destroy();
  });
});

describe('live outputs are checked before any work', () => {
  it('a recording container that cannot hold H.264, a bad --push target: one line, exit 2, nothing written', async () => {
    const dir = scratch();
    const cases: Array<[string[], RegExp]> = [
      [['--record', join(dir, 'x.gif')], /^dreamflow: --record .*x\.gif: \.gif cannot hold a live recording .*use \.mp4, \.mkv or \.mov\n$/],
      [['--push', join(dir, 'out.mp4')], /^dreamflow: --push .*out\.mp4: give an rtmp:\/\/.* or a virtual camera v4l2:\/dev\/videoN\n$/],
      [['--push', 'rtmp://'], /^dreamflow: --push rtmp:\/\/: the URL names no host\n$/],
      [['--push', '/dev/video57'], /^dreamflow: --push \/dev\/video57: \/dev\/video57 does not exist: load a loopback device with: sudo modprobe v4l2loopback devices=1 video_nr=57 card_label=dreamflow exclusive_caps=1\n$/],
    ];
    await Promise.all(
      cases.map(async ([extra, line]) => {
        const t0 = Date.now();
        const cmd = startLiveCommand(['--input', 'lavfi:testsrc2', '--size', '96x64', '--port', '0', ...extra]);
        const { code } = await cmd.exited;
        expect(code).toBe(2);
        expect(cmd.out.stderr).toMatch(line);
        expect(cmd.out.stdout).toBe('');
        // Before any work: no model loaded, no server started.
        expect(Date.now() - t0).toBeLessThan(15_000);
      }),
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('virtual camera (v4l2loopback)', () => {
  it('understands v4l2:/dev/videoN and /dev/videoN, and writes yuv420p to the v4l2 muxer', () => {
    expect(parseV4l2Target('v4l2:/dev/video9')).toBe('/dev/video9');
    expect(parseV4l2Target('/dev/video12')).toBe('/dev/video12');
    expect(parseV4l2Target('rtmp://127.0.0.1/live')).toBeUndefined();
    expect(pushOutputArgs({ kind: 'v4l2', device: '/dev/video9', label: 'virtual camera /dev/video9' }, 10)).toEqual(['-pix_fmt', 'yuv420p', '-f', 'v4l2', '/dev/video9']);
    expect(modprobeCommand('/dev/video3')).toBe('sudo modprobe v4l2loopback devices=1 video_nr=3 card_label=dreamflow exclusive_caps=1');
  });

  it('a missing device or a path that is no video device: the modprobe line', () => {
    expect(v4l2Problem('/dev/video63')).toMatch(/^\/dev\/video63 does not exist: load a loopback device with: sudo modprobe v4l2loopback .*video_nr=63/);
    expect(v4l2Problem('/dev/null')).toMatch(/is not a video device path/);
    expect(() => parsePushTarget('v4l2:/dev/video63')).toThrow(/^--push v4l2:\/dev\/video63: .*modprobe v4l2loopback/);
  });
});

describe('sound in live recordings', () => {
  it('live --input CLIP_WITH_AUDIO --record r.mp4 --push HLS, stopped after 6 s: sound as long as the picture, not silent, pushed too', async () => {
    const dir = scratch();
    const clip = join(dir, 'clip.mp4');
    await ffmpegRun(['-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '20', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', clip]);
    const record = join(dir, 'r.mp4');
    mkdirSync(join(dir, 'hls'));
    const cmd = startLiveCommand(['--input', clip, '--size', '96x64', '--fps', '8', '--port', '0', '--layer', 'inception_3b/output', '--octaves', '1', '--iterations', '1', '--frame-iterations', '1', '--workers', '1', '--record', record, '--push', join(dir, 'hls', 'live.m3u8')]);
    try {
      await waitFor(() => /open http:\/\/127\.0\.0\.1:\d+\//.test(cmd.out.stdout) || cmd.child.exitCode !== null, 60_000, `the URL (stderr: ${cmd.out.stderr})`);
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(cmd.out.stdout)![1]!;
      await waitFor(async () => (((await (await fetch(url + 'stats')).json()) as { outputs?: Array<{ written: number }> }).outputs?.[0]?.written ?? 0) >= 1, 60_000, 'the first recorded frame');
      await sleep(6000);
      cmd.child.kill('SIGINT');
      const { code } = await cmd.exited;
      expect(code).toBe(0);
    } finally {
      if (cmd.child.exitCode === null && cmd.child.signalCode === null) cmd.child.kill('SIGKILL');
    }
    // The offset used is reported.
    expect(cmd.out.stderr).toMatch(/stopped after \d+ dreamed frames; sound delayed \d+ ms to match the dream/);
    const { stdout } = await ffprobeRun(['-v', 'error', '-show_entries', 'stream=codec_type,duration', '-of', 'json', record]);
    const streams = (JSON.parse(stdout.toString()) as { streams: Array<{ codec_type: string; duration: string }> }).streams;
    const video = streams.find((x) => x.codec_type === 'video');
    const audio = streams.find((x) => x.codec_type === 'audio');
    console.log(`sound: video ${video?.duration} s, audio ${audio?.duration} s; ${/sound delayed \d+ ms/.exec(cmd.out.stderr)?.[0]}`);
    expect(audio).toBeDefined();
    expect(Number(video!.duration)).toBeGreaterThan(5);
    expect(Math.abs(Number(audio!.duration) - Number(video!.duration))).toBeLessThanOrEqual(0.5);
    // The push carries it too (HLS here: the same ffmpeg arguments as RTMP/SRT apart from the muxer).
    const segment = readdirSync(join(dir, 'hls')).find((f) => f.endsWith('.ts'))!;
    // (ffmpeg lists the streams: the bundled ffprobe crashes on MPEG-TS.)
    const pushed = await ffmpegRun(['-loglevel', 'info', '-i', join(dir, 'hls', segment), '-t', '0.1', '-f', 'null', '-']);
    expect(pushed.stderr).toMatch(/Stream #0:\d+.*: Video: h264/);
    expect(pushed.stderr).toMatch(/Stream #0:\d+.*: Audio: aac/);
    // The tone is there (the sine is about -21 dBFS; silence would be -91).
    const { stderr } = await ffmpegRun(['-loglevel', 'info', '-i', record, '-map', '0:a', '-af', 'volumedetect', '-f', 'null', '-']);
    const mean = Number(/mean_volume: (-?[\d.]+) dB/.exec(stderr)?.[1]);
    expect(mean).toBeGreaterThan(-40);
  });
});

describe('the look at default settings', () => {
  it('a thumbnail on the CPU gets a lower layer and a larger step; a GPU or a large size keeps the richest', () => {
    expect(liveLook({ width: 320, height: 180 }, false)).toEqual({ layer: 'inception_3b/output', step: 3 });
    expect(liveLook({ width: 320, height: 180 }, true)).toEqual({ layer: 'inception_4c/output', step: 1.5 });
    expect(liveLook({ width: 1280, height: 720 }, false)).toEqual({ layer: 'inception_4c/output', step: 1.5 });
  });

  it('--print-config writes the look, so the printed config dreams what the command does', () => {
    const dreamOf = (args: string[]): Record<string, unknown> => withDefaults(specFromArgs('live', ['--input', 'lavfi:testsrc2', ...args]).spec).stages[0]!;
    expect(dreamOf([])).toMatchObject({ layer: 'inception_3b/output', step: 3 });
    expect(dreamOf(['--size', '1280x720'])).toMatchObject({ layer: 'inception_4c/output', step: 1.5 });
    expect(dreamOf(['--layer', 'inception_4a/output'])).toMatchObject({ layer: 'inception_4a/output', step: 3 });
    expect(dreamOf(['--step', '2'])).toMatchObject({ layer: 'inception_3b/output', step: 2 });
    expect(dreamOf(['--look', 'classic'])).toMatchObject({ layer: 'inception_4c/output', step: 1.5 });
    // SqueezeNet has no inception_3b: its own default layer, with the larger step.
    expect(dreamOf(['--model', 'squeezenet'])).toMatchObject({ layer: loadManifest('squeezenet').defaultLayer, step: 3 });
  });

  it('live without --layer and --step dreams that look; given ones win', async () => {
    const hello = async (extra: string[]): Promise<{ layer: string; step: number }> => {
      const cmd = startLiveCommand(['--input', 'lavfi:testsrc2', '--size', '96x64', '--fps', '5', '--port', '0', '--workers', '1', ...extra]);
      try {
        await waitFor(() => /open http:\/\/127\.0\.0\.1:\d+\//.test(cmd.out.stdout) || cmd.child.exitCode !== null, 60_000, `the URL (stderr: ${cmd.out.stderr})`);
        const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(cmd.out.stdout)![1]!;
        const v = await connectViewer(url);
        const controls = v.texts[0]!.controls as { layer: string; step: number };
        await v.close();
        return controls;
      } finally {
        cmd.child.kill('SIGINT');
        await cmd.exited;
      }
    };
    const [auto, given] = await Promise.all([hello([]), hello(['--layer', 'inception_4c/output', '--step', '2'])]);
    expect(auto).toMatchObject({ layer: 'inception_3b/output', step: 3 });
    expect(given).toMatchObject({ layer: 'inception_4c/output', step: 2 });
  });
});
