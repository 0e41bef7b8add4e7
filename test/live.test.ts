/**
 * `dreamflow live` end to end with real sockets on 127.0.0.1, real ffmpeg and the real model.
 * Dreaming is kept cheap (one octave, one step, tiny frames, inception_3b) so that frame rates
 * measure the server, not the network's depth.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { layer, type Objective } from '../src/dream/objectives.js';
import { createRunner, type GradientRunner } from '../src/dream/runner.js';
import { UserError } from '../src/errors.js';
import { probe } from '../src/media/probe.js';
import { ffmpegRun } from '../src/media/run.js';
import { AdaptiveController, levelLadder, workingSize } from '../src/pipeline/liveController.js';
import { LIVE_DREAM, LIVE_TEMPORAL } from '../src/pipeline/liveDefaults.js';
import { TemporalDreamStage } from '../src/temporal/stage.js';
import { Latest } from '../src/latest.js';
import type { DreamedFrame, Frame, Sink } from '../src/frame.js';
import { PacedWriter } from '../src/sinks/paced.js';
import { type LiveOptions, type LiveSession } from '../src/pipeline/liveSession.js';
import { addressKey, checkOrigin, isAnonymous, rightsFor } from '../src/server/access.js';
import { LiveServer } from '../src/server/hub.js';
import { FLAG_BROWSER, encodeCameraMessage, parseClientMessage } from '../src/server/protocol.js';
import { liveInputArgs, parseLiveInput } from '../src/sources/live.js';
import { presetCommand } from '../src/cli/preset.js';
import { connectViewer, healthz, nextText, percentile, preloadOpenCv, sleep, startLiveCommand, startSmallLive, upgradeReply, upgradeStatus, waitFor, type TestViewer } from './helpers/live.js';
import { BIN, ROOT, SHARED_IMAGES, tempDir } from './helpers/paths.js';

const CHEAP = { ...LIVE_TEMPORAL, dream: { ...LIVE_DREAM, octaves: 1, iterations: 2 }, frameIterations: 1 };
const LAYER = 'inception_3b/output';

let runner: GradientRunner;
let objective: Objective;
let session: LiveSession | undefined;
const viewers: TestViewer[] = [];
const dirs: string[] = [];

function scratch(): string {
  const d = tempDir('dreamflow-live-');
  dirs.push(d);
  return d;
}

function live(opts: Partial<LiveOptions>): Promise<LiveSession> {
  return startSmallLive(runner, objective, CHEAP, opts);
}

async function watch(url: string, opts: Parameters<typeof connectViewer>[1] = {}): Promise<TestViewer> {
  const v = await connectViewer(url, opts);
  viewers.push(v);
  return v;
}

beforeAll(async () => {
  preloadOpenCv();
  // One worker thread: dreaming leaves the main thread (sockets, ffmpeg pipes) free.
  runner = await createRunner({ backend: 'onnx', workers: 1, quiet: true });
  objective = layer(runner.layerName(LAYER));
});

afterEach(async () => {
  await Promise.all(viewers.splice(0).map((v) => v.close()));
  await session?.close();
  session = undefined;
});

afterAll(async () => {
  await runner?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('live pieces', () => {
  it('a paced recording closes on the last offered picture, even one that came after the last tick', async () => {
    const written: number[] = [];
    let closed = false;
    const sink: Sink = {
      write: async (f) => void written.push(f.index),
      close: async () => void (closed = true),
      abort: async () => undefined,
    };
    const frame = (index: number): Frame => ({ index, ptsSeconds: index, width: 1, height: 1, data: new Uint8Array(3) });
    // One tick a second: the first write is written at once, the next two before any further tick.
    // The paced writer is itself a Sink whose write only offers the newest frame: it never waits.
    const paced = new PacedWriter(sink, 1, 'test', (e) => {
      throw e;
    });
    await paced.write(frame(0));
    await sleep(20);
    await paced.write(frame(1));
    await paced.write(frame(2));
    await paced.close();
    expect(written).toEqual([0, 2]);
    expect(paced.stats).toMatchObject({ written: 2, skipped: 1 });
    expect(closed).toBe(true);
  });

  it('understands inputs and refuses unknown devices and schemes with one line', () => {
    expect(parseLiveInput('lavfi:testsrc2')).toMatchObject({ kind: 'lavfi', graph: 'testsrc2' });
    expect(parseLiveInput('browser').kind).toBe('browser');
    expect(parseLiveInput('rtsp://user:pw@cam.local/stream')).toMatchObject({ kind: 'url', label: 'rtsp://***@cam.local/stream' });
    expect(parseLiveInput('camera:0', 'darwin')).toMatchObject({ kind: 'device', format: 'avfoundation', device: '0:none' });
    expect(parseLiveInput('camera:Integrated Camera', 'win32')).toMatchObject({ format: 'dshow', device: 'video=Integrated Camera' });
    expect(() => parseLiveInput('/dev/video97', 'linux')).toThrow(/unknown device \/dev\/video97/);
    expect(() => parseLiveInput('camera:97', 'linux')).toThrow(/unknown device/);
    expect(() => parseLiveInput('gopher://x/y')).toThrow(/unsupported URL scheme/);
    expect(() => parseLiveInput('no-such-clip.mp4')).toThrow(UserError);
    expect(liveInputArgs({ kind: 'lavfi', graph: 'testsrc2', label: '' }, { width: 96, height: 64, fps: 8 })).toEqual(['-re', '-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=8']);
    expect(liveInputArgs({ kind: 'file', path: 'a.mp4', label: '' }, { width: 96, height: 64, fps: 8, loop: true })).toEqual(['-re', '-stream_loop', '-1', '-i', `file:${join(process.cwd(), 'a.mp4')}`]);
  });

  it('keeps only the newest frame and counts the rest as drops', async () => {
    const slot = new Latest<number>();
    slot.put(1);
    slot.put(2);
    slot.put(3);
    expect(await slot.take()).toBe(3);
    expect(slot.dropped).toBe(2);
    const waiting = slot.take();
    slot.put(4);
    expect(await waiting).toBe(4);
    slot.close();
    expect(await slot.take()).toBeUndefined();
  });

  it('the controller trades steps, then resolution, to hold the frame rate, and climbs back', () => {
    // A floor of 0 lets it give up the dream altogether (the old behaviour, by choice only).
    const ladder = levelLadder(2, undefined, 0);
    expect(ladder).toEqual([
      { iterations: 2, scale: 1 },
      { iterations: 1, scale: 1 },
      { iterations: 1, scale: 0.8 },
      { iterations: 1, scale: 0.64 },
      { iterations: 1, scale: 0.5 },
      { iterations: 0, scale: 0.5 },
    ]);
    const c = new AdaptiveController(ladder, 10, { coolDownMs: 1000 });
    let t = 0;
    // Far too slow (0.5 s a frame for a 0.09 s budget): it walks down to the cheapest level.
    for (let i = 0; i < 40; i++) c.observe(0.5, (t += 100));
    expect(c.index).toBe(ladder.length - 1);
    // Plenty of headroom: back up to the richest level once the cool-downs have passed.
    for (let i = 0; i < 200; i++) c.observe(0.01, (t += 100));
    expect(c.index).toBe(0);
    expect(workingSize(320, 180, 0.5)).toEqual({ width: 160, height: 90 });
    expect(workingSize(96, 64, 0.3)).toEqual({ width: 48, height: 32 });
  });

  it('never goes below the quality floor: it lowers the frame rate instead, and says so', () => {
    const ladder = levelLadder(2);
    expect(ladder.every((l) => l.iterations >= 1)).toBe(true);
    expect(levelLadder(4, undefined, 2).every((l) => l.iterations >= 2)).toBe(true);
    const c = new AdaptiveController(ladder, 10, { coolDownMs: 1000 });
    let t = 0;
    // Far too slow for 10 fps even at the cheapest level: the floor holds, the rate gives.
    for (let i = 0; i < 60; i++) {
      c.observe(0.4, (t += 100));
      expect(c.level.iterations).toBeGreaterThanOrEqual(1);
    }
    expect(c.index).toBe(ladder.length - 1);
    expect(c.throttledFps).toBeDefined();
    expect(c.throttledFps!).toBeLessThan(10);
    expect(c.throttledFps!).toBeCloseTo(0.9 / 0.4, 0);
    // Fast enough again: no throttling once it climbs.
    for (let i = 0; i < 200; i++) c.observe(0.01, (t += 100));
    expect(c.throttledFps).toBeUndefined();
  });

  it('a static scene: the carried dream deepens frame after frame, up to a bound', async () => {
    const photo = await sharp(join(SHARED_IMAGES, 'horses.jpg')).resize(96, 64, { fit: 'cover' }).removeAlpha().raw().toBuffer();
    const temporal = { ...LIVE_TEMPORAL, dream: { ...LIVE_DREAM, iterations: 6 }, frameIterations: 1 };
    const stage = new TemporalDreamStage(runner, objective, temporal);
    const strength: number[] = [];
    for (let i = 0; i < 60; i++) {
      await stage.process({ index: i, ptsSeconds: i / 10, width: 96, height: 64, data: new Uint8Array(photo) });
      strength.push(stage.lastReport!.residualRms);
      // A fresh first frame gets one step like the rest (no stall), not the six of a full dream.
      if (i === 0) expect(stage.lastReport!.fresh).toBe(true);
    }
    // Grows well past what one frame's steps give...
    expect(strength[20]!).toBeGreaterThan(2 * strength[0]!);
    expect(strength[59]!).toBeGreaterThan(strength[10]!);
    // ...and stays bounded: the carry is capped, one frame's steps add little on top.
    const cap = LIVE_TEMPORAL.carryLimitRms!;
    for (const s of strength) expect(s).toBeLessThan(cap * 1.5);
    console.log(`static scene residual RMS: ${[0, 5, 10, 20, 40, 59].map((i) => `${i}:${strength[i]!.toFixed(1)}`).join(' ')} (cap ${cap})`);
  });

  it('checks tokens, Origin and messages', () => {
    const policy = { token: 'control-secret', viewerToken: 'viewer-secret', bindHost: '127.0.0.1' };
    expect(rightsFor(policy, undefined)).toEqual({ watch: false, control: false });
    expect(rightsFor(policy, 'viewer-secret')).toEqual({ watch: true, control: false });
    expect(rightsFor(policy, 'control-secret')).toEqual({ watch: true, control: true });
    expect(rightsFor({ bindHost: '127.0.0.1' }, undefined)).toEqual({ watch: true, control: true });
    expect(checkOrigin(policy, '127.0.0.1:8080', 'http://127.0.0.1:8080')).toBeUndefined();
    expect(checkOrigin(policy, '127.0.0.1:8080', undefined)).toBeUndefined();
    expect(checkOrigin(policy, '127.0.0.1:8080', 'http://evil.example')).toMatch(/not allowed/);
    expect(checkOrigin(policy, 'evil.example:8080', 'http://evil.example:8080')).toMatch(/not this server/);
    expect(parseClientMessage('{"type":"settings","layer":"x","step":2}')).toEqual({ message: { type: 'settings', layer: 'x', step: 2 } });
    expect(parseClientMessage('nope')).toEqual({ error: 'malformed message: not JSON' });
    expect(parseClientMessage('{"type":"explode"}')).toEqual({ error: 'unknown message type "explode"' });
  });

  it('counts viewers without a token by address: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', () => {
    const policy = { token: 'control-secret', bindHost: '0.0.0.0' };
    expect(isAnonymous(policy, undefined)).toBe(true);
    expect(isAnonymous(policy, 'guess-guess')).toBe(true);
    expect(isAnonymous(policy, 'control-secret')).toBe(false);
    expect(isAnonymous({ ...policy, viewerToken: 'viewer-secret' }, 'viewer-secret')).toBe(false);
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    // One host's /64 is one address however it picks the last 64 bits.
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
  });

  it("the viewers' output is a Sink: a written frame is encoded once for the viewers, never while nobody watches", async () => {
    const server = await LiveServer.listen({ host: '127.0.0.1', port: 0, statsEveryMs: 0 });
    try {
      server.attach({
        info: () => ({ width: 16, height: 8, fps: 5, model: 'none', layers: [], input: 'test' }),
        controls: () => ({ layer: 'x', step: 1, iterations: 1 }),
        updateControls: () => ({ layer: 'x', step: 1, iterations: 1 }),
        ingest: async () => 'closed' as const,
        health: () => ({}),
      });
      const red = new Uint8Array(16 * 8 * 3);
      for (let i = 0; i < red.length; i += 3) red[i] = 255;
      const dreamed = (seq: number, extra: Partial<DreamedFrame> = {}): DreamedFrame => ({
        index: 40 + seq, ptsSeconds: seq, width: 16, height: 8, data: red, capturedAt: Date.now(), origin: 'source',
        seq, level: 2, dreamMs: 12.4, workingWidth: 16, workingHeight: 8, dreamedAt: Date.now(), ...extra,
      });
      const sink: Sink<DreamedFrame> = server.sink;
      // Nobody watches: nothing is encoded, so there is no last frame.
      await sink.write(dreamed(0));
      await sleep(50);
      expect(server.stats()).toMatchObject({ lastFrameBytes: 0, sent: 0, encodeSkipped: 0 });
      const v = await watch(server.url);
      await sink.write(dreamed(7));
      await waitFor(() => v.frames.length === 1, 5000, 'the written frame');
      expect(v.frames[0]!.header).toMatchObject({ seq: 7, sourceSeq: 47, level: 2, dreamMs: 12, width: 16, height: 8, flags: 0 });
      const picture = await sharp(v.lastJpeg!).raw().toBuffer({ resolveWithObject: true });
      expect(picture.info).toMatchObject({ width: 16, height: 8 });
      expect(picture.data[0]).toBeGreaterThan(200);
      expect(picture.data[1]).toBeLessThan(60);
      // A viewer's camera frame carries its client's id and sequence number instead of the index.
      await sink.write(dreamed(8, { origin: 'browser', clientId: 3, clientSeq: 99 }));
      await waitFor(() => v.frames.length === 2, 5000, 'the camera frame');
      expect(v.frames[1]!.header).toMatchObject({ seq: 8, flags: FLAG_BROWSER, clientId: 3, sourceSeq: 99 });
      expect(server.stats()).toMatchObject({ sent: 2, lastFrameBytes: v.frames[1]!.bytes });
      // Closed with the server: a later write is taken and dropped, not an error.
      await server.close();
      await expect(sink.write(dreamed(9))).resolves.toBeUndefined();
      expect(v.frames).toHaveLength(2);
    } finally {
      await server.close();
    }
  });
});

describe('dreamflow live server', () => {
  it('feeds three WebSocket viewers dreamed frames from a synthetic live source', async () => {
    session = await live({ gainEverySeconds: 1 });
    const url = session.url;
    const three = [await watch(url), await watch(url), await watch(url)];
    const hello = three[0]!.texts[0]!;
    expect(hello).toMatchObject({ type: 'hello', width: 96, height: 64, fps: 8, model: 'bvlc_googlenet', canControl: true });
    await waitFor(() => three.every((v) => v.frames.length >= 12), 60_000, 'twelve frames at every viewer');
    await waitFor(async () => ((await healthz(url)).gain?.source ?? 0) > 0, 20_000, 'a dream gain measurement');

    for (const v of three) {
      const seqs = v.frames.map((f) => f.header.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      for (const f of v.frames) {
        expect(f.header).toMatchObject({ width: 96, height: 64, flags: 0 });
        // Capture → send → arrival on one clock.
        expect(f.header.sentAt).toBeGreaterThanOrEqual(f.header.capturedAt);
        expect(f.arrivedAt).toBeGreaterThanOrEqual(f.header.sentAt - 1);
      }
      const { info } = await sharp(v.lastJpeg!).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([96, 64]);
    }
    // Every viewer sees the same stream.
    const common = three[0]!.frames.map((f) => f.header.seq).filter((s) => three.every((v) => v.frames.some((f) => f.header.seq === s)));
    expect(common.length).toBeGreaterThanOrEqual(8);

    const h = await healthz(url);
    expect(h).toMatchObject({ status: 'ok', viewers: 3, input: 'lavfi:testsrc2' });
    // Really dreamed: the objective is stronger on the output than on the input frame.
    expect(h.gain.source).toBeGreaterThan(1);
    expect(h.fps).toBeGreaterThan(5);
    const latencies = three.flatMap((v) => v.frames.slice(4).map((f) => f.arrivedAt - f.header.capturedAt));
    expect(percentile(latencies, 95)).toBeLessThan(1000);

    const page = await fetch(url);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/share my camera/);

    await session.close();
    session = undefined;
    await waitFor(() => three.every((v) => v.closed !== undefined), 5000, 'viewers told goodbye');
    expect(three[0]!.closed!.code).toBe(1001);
  });

  it('a viewer that never reads is skipped: the others keep their frame rate, memory stays bounded', async () => {
    // Big noisy frames (about 100 KB each) fill a stuck socket's kernel buffers within seconds;
    // dreaming stays cheap at a 0.3 working scale.
    const maxBufferedBytes = 64 << 10;
    session = await live({
      input: 'lavfi:testsrc2=size=320x180:rate=8,noise=alls=80:allf=t+u',
      size: { width: 320, height: 180 },
      levels: [{ iterations: 1, scale: 0.3 }],
      server: { jpegQuality: 100, maxBufferedBytes },
    });
    const url = session.url;
    const three = [await watch(url), await watch(url), await watch(url)];
    await waitFor(() => three.every((v) => v.frames.length >= 8), 60_000, 'frames at every viewer');
    const frameBytes = session.server.stats().lastFrameBytes;
    expect(frameBytes).toBeGreaterThan(40_000);

    const windowMs = 4000;
    const t0 = Date.now();
    await sleep(windowMs);
    const before = three.map((v) => v.countBetween(t0, t0 + windowMs));

    const slow = await watch(url, { paused: true });
    const slowId = slow.texts[0]!.clientId as number;
    const slowStats = () => session!.server.viewerStats().find((s) => s.id === slowId)!;
    await waitFor(() => slowStats().skipped >= 3, 60_000, 'the stuck viewer to be skipped');
    const mem0 = process.memoryUsage();
    const skipped0 = slowStats().skipped;

    let maxBuffered = 0;
    const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, slowStats().bufferedBytes)), 50);
    const t1 = Date.now();
    await sleep(windowMs);
    clearInterval(sampler);
    const during = three.map((v) => v.countBetween(t1, t1 + windowMs));
    const mem1 = process.memoryUsage();

    for (let i = 0; i < 3; i++) expect(during[i]!).toBeGreaterThanOrEqual(0.9 * before[i]!);
    expect(Math.min(...before)).toBeGreaterThan(0.6 * 8 * (windowMs / 1000));
    // Still stuck, still skipped, and never more than the limit plus one frame held for it.
    expect(slowStats().skipped).toBeGreaterThan(skipped0);
    expect(maxBuffered).toBeLessThanOrEqual(maxBufferedBytes + frameBytes);
    expect(session.server.stats().bufferedBytes).toBeLessThanOrEqual(4 * (maxBufferedBytes + frameBytes));
    expect(mem1.rss - mem0.rss).toBeLessThan(64 << 20);
    expect(mem1.heapUsed - mem0.heapUsed).toBeLessThan(32 << 20);
  });

  it('refuses bad tokens, foreign origins, malformed and oversized messages while the stream goes on', async () => {
    session = await live({ token: 'control-secret', viewerToken: 'viewer-secret', server: { maxPayload: 64 << 10 } });
    const url = session.url;
    const port = session.port;
    expect(await upgradeStatus(url)).toBe(401);
    expect(await upgradeStatus(url, { token: 'wrong-token' })).toBe(401);
    expect(await upgradeStatus(url, { token: 'viewer-secret', origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus(url, { token: 'viewer-secret', headers: { host: `rebound.example:${port}` } })).toBe(403);
    expect(await upgradeStatus(url, { token: 'viewer-secret', origin: `http://127.0.0.1:${port}` })).toBe(101);

    const watcher = await watch(url, { token: 'viewer-secret' });
    expect(watcher.texts[0]).toMatchObject({ type: 'hello', canControl: false, canSend: false });
    await waitFor(() => watcher.frames.length >= 3, 30_000, 'frames for the watcher');

    const expectError = async (v: TestViewer, send: string | Buffer, pattern: RegExp): Promise<void> => {
      const reply = nextText(v, 'error');
      v.ws.send(send);
      expect(String((await reply).message)).toMatch(pattern);
    };
    await expectError(watcher, JSON.stringify({ type: 'settings', step: 2 }), /needs the --token/);
    await expectError(watcher, encodeCameraMessage(1, new Uint8Array([0xff, 0xd8, 0xff])), /needs the --token/);
    await expectError(watcher, JSON.stringify({ type: 'auth', token: 'guess' }), /wrong token/);

    const control = await watch(url, { token: 'control-secret' });
    expect(control.texts[0]).toMatchObject({ canControl: true, canSend: true });
    await expectError(control, '{"type": "settings", "layer": ', /malformed/);
    await expectError(control, '[1,2]', /expected a JSON object/);
    await expectError(control, JSON.stringify({ type: 'reboot' }), /unknown message type "reboot"/);
    await expectError(control, JSON.stringify({ type: 'settings', layer: 'inception_4x/output' }), /inception_4/);
    await expectError(control, JSON.stringify({ type: 'settings', step: 500 }), /step/);
    await expectError(control, JSON.stringify({ type: 'settings', iterations: 2.5 }), /iterations/);
    await expectError(control, JSON.stringify({ type: 'settings', colour: 'red' }), /unknown field "colour"/);
    await expectError(control, encodeCameraMessage(2, Buffer.from('definitely not a jpeg')), /not a JPEG/);
    await expectError(control, Buffer.from('garbage binary'), /malformed camera frame/);

    // A valid change reaches every viewer.
    const changed = nextText(watcher, 'settings');
    control.ws.send(JSON.stringify({ type: 'settings', layer: 'inception_4a', step: 2 }));
    expect((await changed).controls).toMatchObject({ layer: 'inception_4a/output', step: 2 });

    // A camera picture from a client comes back dreamed, marked as that client's frame.
    const jpeg = await sharp({ create: { width: 160, height: 120, channels: 3, background: { r: 200, g: 90, b: 40 } } })
      .composite([{ input: Buffer.from('<svg width="160" height="120"><circle cx="80" cy="60" r="40" fill="#2040c0"/></svg>') }])
      .jpeg()
      .toBuffer();
    const ack = nextText(control, 'ack');
    control.ws.send(encodeCameraMessage(77, jpeg));
    expect(await ack).toMatchObject({ type: 'ack', seq: 77 });
    const controlId = control.texts[0]!.clientId as number;
    await waitFor(() => watcher.frames.some((f) => (f.header.flags & FLAG_BROWSER) !== 0 && f.header.clientId === controlId && f.header.sourceSeq === 77), 20_000, 'the camera frame to come back');

    // Oversized: that socket is closed (1009), nobody else notices.
    control.ws.send(Buffer.alloc(100 << 10, 1));
    await waitFor(() => control.closed !== undefined, 10_000, 'the oversized sender to be closed');
    expect(control.closed!.code).toBe(1009);

    // A client that keeps sending garbage is disconnected.
    const abuser = await watch(url, { token: 'control-secret' });
    for (let i = 0; i < 60; i++) abuser.ws.send('x');
    await waitFor(() => abuser.closed !== undefined, 10_000, 'the abuser to be disconnected');
    expect(abuser.closed!.code).toBe(1008);

    const n = watcher.frames.length;
    await waitFor(() => watcher.frames.length >= n + 5, 20_000, 'the stream to go on');
    const h = await healthz(url, false, 'control-secret');
    expect(h.status).toBe('ok');
    expect(h.refused).toBeGreaterThanOrEqual(15);
    expect(watcher.closed).toBeUndefined();
  });

  it('one address cannot take every viewer slot: viewers without a token are limited per address', async () => {
    // Watching is open (no viewer token); only control needs a token.
    session = await live({ token: 'control-secret', server: { maxViewersPerAddress: 2 } });
    const url = session.url;
    const first = [await watch(url), await watch(url)];
    const refused = await upgradeReply(url);
    expect(refused).toEqual({ status: 429, text: 'too many viewers from this address', body: 'too many viewers from this address\n' });
    // Another host (another loopback address) still gets in, up to its own quota.
    const other = [await watch(url, { localAddress: '127.0.0.2' }), await watch(url, { localAddress: '127.0.0.2' })];
    expect(await upgradeStatus(url, { localAddress: '127.0.0.2' })).toBe(429);
    // Token holders are not counted against their address.
    const control = await watch(url, { token: 'control-secret' });
    expect(control.texts[0]).toMatchObject({ type: 'hello', canControl: true });
    await waitFor(() => [...first, ...other, control].every((v) => v.frames.length >= 2), 30_000, 'frames at every admitted viewer');
    // A viewer leaving frees its address's slot.
    await first[0]!.close();
    await waitFor(() => session!.server.viewerCount === 4, 5000, 'the server to see the viewer leave');
    await watch(url);
    expect(await upgradeStatus(url)).toBe(429);
  });

  it('a port in use, an unreachable URL: one-line errors', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(live({ port })).rejects.toThrow(new UserError(`port ${port} on 127.0.0.1 is already in use: choose another with --port`));
      // The command fails the same way, before it spends seconds loading the model.
      const t = performance.now();
      await expect(presetCommand('live')(['--input', 'lavfi:testsrc2', '--port', String(port), '--quiet'])).rejects.toThrow(/already in use/);
      expect(performance.now() - t).toBeLessThan(3000);
    } finally {
      blocker.close();
    }
    session = await live({ input: 'rtsp://127.0.0.1:9/nothing-here' });
    await expect(session.done).rejects.toThrow(/^cannot open rtsp:\/\/127\.0\.0\.1:9\/nothing-here: /);
  });

  it('reconnects a URL stream that ends, with back-off', async () => {
    const dir = scratch();
    const clip = join(dir, 'clip.ts');
    await ffmpegRun(['-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=8', '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'mpegts', clip]);
    const body = readFileSync(clip);
    let requests = 0;
    const http: Server = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'Content-Type': 'video/mp2t', 'Content-Length': body.length }).end(body);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const warnings: string[] = [];
    try {
      session = await live({
        input: `http://127.0.0.1:${(http.address() as { port: number }).port}/clip.ts`,
        reconnect: { backoffMs: { initial: 100, max: 400 } },
        onWarning: (m) => warnings.push(m),
      });
      await waitFor(() => requests >= 3, 30_000, 'three connections');
      const h = await healthz(session.url);
      expect(h.reconnects).toBeGreaterThanOrEqual(2);
      expect(h.sourceFrames).toBeGreaterThan(8);
      expect(warnings.some((w) => /reconnecting in/.test(w))).toBe(true);
    } finally {
      http.close();
    }
  });

  it('plays a file in real time once, or forever with --loop', async () => {
    const dir = scratch();
    const clip = join(dir, 'clip.mp4');
    await ffmpegRun(['-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=8', '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', clip]);
    const t = performance.now();
    session = await live({ input: clip });
    await session.done;
    // Real time: a one-second clip takes about a second, not the few milliseconds decoding takes.
    expect(performance.now() - t).toBeGreaterThan(800);
    expect(session.scheduler.inputEnded).toBe(true);
    session = await live({ input: clip, loop: true });
    await waitFor(async () => (await healthz(session!.url)).sourceFrames >= 14, 20_000, 'the clip to loop');
  });

  it('the command serves, records and pushes HLS, and finishes both on SIGINT', async () => {
    const dir = scratch();
    mkdirSync(join(dir, 'hls'));
    const record = join(dir, 'out.mp4');
    const args = [BIN, 'live'];
    args.push('--input', 'lavfi:testsrc2', '--size', '96x64', '--fps', '8', '--port', '0', '--layer', LAYER, '--octaves', '1', '--iterations', '2');
    args.push('--frame-iterations', '1', '--workers', '1', '--record', record, '--push', join(dir, 'hls', 'live.m3u8'));
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    try {
      await waitFor(() => /open http:\/\/127\.0\.0\.1:\d+\//.test(stdout), 60_000, `the URL (stderr: ${stderr})`);
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)![1]!;
      await waitFor(async () => (await healthz(url)).frames >= 8, 60_000, 'eight dreamed frames');
      const startedRecording = Date.now();
      await sleep(3000);
      child.kill('SIGINT');
      const code = await exited;
      const seconds = (Date.now() - startedRecording) / 1000;
      expect(stderr).not.toMatch(/internal error/);
      expect(code).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(['hls', 'out.mp4']);
      const info = await probe(record);
      expect([info.width, info.height]).toEqual([96, 64]);
      // Paced at --fps in wall-clock time: the recording lasts as long as it ran.
      expect(info.durationSeconds).toBeGreaterThan(seconds - 1.5);
      expect(info.durationSeconds).toBeLessThan(seconds + 3);
      const playlist = readFileSync(join(dir, 'hls', 'live.m3u8'), 'utf8');
      expect(playlist).toMatch(/#EXTINF/);
      expect(readdirSync(join(dir, 'hls')).some((f) => f.endsWith('.ts'))).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(existsSync(record)).toBe(true);
  });

  it('Ctrl-C from a terminal (SIGINT to the whole process group) still finishes the recording', async () => {
    const dir = scratch();
    const record = join(dir, 'rec.mp4');
    const args = ['--input', 'lavfi:testsrc2', '--size', '96x64', '--fps', '8', '--port', '0', '--layer', LAYER, '--octaves', '1', '--iterations', '1'];
    args.push('--frame-iterations', '1', '--workers', '1', '--record', record);
    // detached: the command leads its own process group, as it does when started from a shell.
    const cmd = startLiveCommand(args, { detached: true });
    const group = cmd.child.pid!;
    try {
      await waitFor(() => /open http:\/\/127\.0\.0\.1:\d+\//.test(cmd.out.stdout), 60_000, `the URL (stderr: ${cmd.out.stderr})`);
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(cmd.out.stdout)![1]!;
      await waitFor(async () => ((await healthz(url)).outputs?.[0]?.written ?? 0) >= 8, 60_000, 'eight recorded frames');
      // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
      process.kill(-group, 'SIGINT');
      const { code } = await Promise.race([cmd.exited, sleep(20_000).then(() => ({ code: -1 }))]);
      expect(cmd.out.stderr).not.toMatch(/failed|internal error/);
      expect(cmd.out.stderr).toMatch(/stopped after \d+ dreamed frames/);
      // The documented ending of a live job stopped with Ctrl-C: the recording finished, exit code 0.
      expect(code).toBe(0);
      expect(readdirSync(dir)).toEqual(['rec.mp4']);
      const info = await probe(record);
      expect([info.width, info.height]).toEqual([96, 64]);
      expect(info.frameCount).toBeGreaterThanOrEqual(8);
      expect(info.durationSeconds).toBeGreaterThan(0.9);
    } finally {
      if (cmd.child.exitCode === null && cmd.child.signalCode === null) process.kill(-group, 'SIGKILL');
    }
  });

  it('warns that --host 0.0.0.0 runs without a token even with --quiet; Ctrl-C while it loads stops it', async () => {
    const env = { ...process.env };
    delete env.DREAMFLOW_TOKEN;
    // Only listens (port 0 on every interface, for a few seconds); nothing is sent anywhere.
    const cmd = startLiveCommand(['--input', 'lavfi:testsrc2', '--size', '96x64', '--host', '0.0.0.0', '--port', '0', '--workers', '1', '--quiet'], { env });
    try {
      // The warning comes before the server is announced (or the command fails).
      await waitFor(() => /without --token/.test(cmd.out.stderr) || /open http/.test(cmd.out.stdout) || cmd.child.exitCode !== null, 60_000, 'the warning or the URL');
      expect(cmd.out.stderr).toMatch(/^dreamflow: warning: listening on 0\.0\.0\.0 without --token: anyone who can reach it may change settings/m);
      // The model is still loading: the stop must not be lost (it used to be, and the job ran on).
      expect(cmd.out.stdout).not.toMatch(/open http/);
      cmd.child.kill('SIGINT');
      const { code } = await Promise.race([cmd.exited, sleep(30_000).then(() => ({ code: -1 }))]);
      expect(code).toBe(0);
    } finally {
      if (cmd.child.exitCode === null && cmd.child.signalCode === null) cmd.child.kill('SIGKILL');
      await cmd.exited;
    }
  });
});
