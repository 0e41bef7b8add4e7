/**
 * Secrets and trust (issue 18, second pass): what reaches logs, pages and terminals, who gets a
 * viewer place, and what pipeline overrides may touch. Real servers on 127.0.0.x, real processes.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactText, redactUrl } from '../src/media/redact.js';
import { ffmpegRun } from '../src/media/run.js';
import { LiveServer } from '../src/server/hub.js';
import { embedPng } from '../src/sinks/provenance.js';
import { runCli } from './helpers/cli.js';
import { sleep, startLiveCommand, upgradeStatus, waitFor, wsUrl } from './helpers/live.js';
import { makeClip, removeDir, tempDir } from '../bench/fixtures/clips.js';
import { SAMPLES } from './helpers/paths.js';

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(() => removeDir(dir));

describe('redaction', () => {
  it('hides user info, every query value and RTMP stream keys, keeping where the URL points', () => {
    expect(redactUrl('rtsp://user:PASSWORD@cam.local:554/stream1?token=Q&channel=2')).toBe('rtsp://***@cam.local:554/stream1?token=***&channel=***');
    expect(redactUrl('rtmp://a.rtmp.example/live2/abcd-efgh-KEY')).toBe('rtmp://a.rtmp.example/live2/***');
    expect(redactUrl('rtmps://u:p@live.example:443/app/KEY?sig=S')).toBe('rtmps://***@live.example:443/app/***?sig=***');
    expect(redactUrl('rtmp://live.example/app')).toBe('rtmp://live.example/app');
    // SRT stream ids start with "#!::" and hold "=" and ",": the whole value goes.
    expect(redactUrl('srt://relay:9000?streamid=#!::r=live/KEY,m=publish&passphrase=SECRET')).toBe('srt://relay:9000?streamid=***&passphrase=***');
    expect(redactUrl('lavfi:testsrc2')).toBe('lavfi:testsrc2');
    // ffmpeg's own text: every URL in it, sentence punctuation kept.
    expect(redactText('[rtmp @ 0x5] rtmp://u:PASSWORD@h/app/KEY?x=1: Connection refused')).toBe('[rtmp @ 0x5] rtmp://***@h/app/***?x=***: Connection refused');
  });

  it('live --input: no password or token on stderr, in the message or in the ffmpeg text appended to it', async () => {
    const r = await runCli(['live', '--input', 'rtsp://user:PASSWORD@127.0.0.1:1/cam?token=QTOKEN', '--size', '96x64', '--port', '0'], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot open rtsp:\/\/\*\*\*@127\.0\.0\.1:1\/cam\?token=\*\*\*: .*Connection refused/);
    expect(r.stderr + r.stdout).not.toMatch(/PASSWORD|QTOKEN|user:/);
  });

  it('live --push rtmp: the stream key and signature never printed', async () => {
    const cmd = startLiveCommand(['--input', 'lavfi:testsrc2', '--size', '96x64', '--fps', '4', '--port', '0', '--octaves', '1', '--iterations', '1', '--workers', '1',
      '--push', 'rtmp://user:PASSWORD@127.0.0.1:1/app/STREAMKEY?sig=SIGVALUE']);
    try {
      await waitFor(() => /push to/.test(cmd.out.stderr) || cmd.child.exitCode !== null, 60_000, 'the push to fail');
    } finally {
      cmd.child.kill('SIGINT');
    }
    await cmd.exited;
    expect(cmd.out.stderr).toMatch(/push to rtmp:\/\/\*\*\*@127\.0\.0\.1:1\/app\/\*\*\*\?sig=\*\*\*/);
    expect(cmd.out.stderr + cmd.out.stdout).not.toMatch(/PASSWORD|STREAMKEY|SIGVALUE/);
  });
});

/** GET a path with a chosen Host header (fetch does not let a test set it). */
function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A WebSocket held open (no hello comes: the hub has no session attached), or its refusal status. */
function hold(url: string, opts: { token?: string; localAddress?: string } = {}): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(url, opts.token), opts.localAddress ? { localAddress: opts.localAddress } : {});
    ws.on('open', () => resolve(ws));
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (ws.readyState !== ws.OPEN) reject(err);
    });
  });
}

describe('the live server', () => {
  it('/healthz answers liveness only and checks Host; the counters stay behind the tokens', async () => {
    const server = await LiveServer.listen({ host: '127.0.0.1', port: 0, token: 'control-secret', viewerToken: 'viewer-secret' });
    try {
      const port = server.port;
      const health = await get(port, '/healthz');
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
      expect((await get(port, '/healthz', `evil.example:${port}`)).status).toBe(403);
      expect((await get(port, '/', `evil.example:${port}`)).status).toBe(403);
      expect((await get(port, '/stats')).status).toBe(401);
      const viewer = JSON.parse((await get(port, '/stats?token=viewer-secret&viewers=1')).body) as Record<string, unknown>;
      expect(viewer).toHaveProperty('viewers');
      expect(viewer).not.toHaveProperty('memory');
      expect(viewer).not.toHaveProperty('perViewer');
      const control = JSON.parse((await get(port, '/stats?token=control-secret&viewers=1')).body) as Record<string, unknown>;
      expect(control).toHaveProperty('memory');
      expect(control.perViewer).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('8 addresses × 8 sockets without a token cannot lock out the --token holder', async () => {
    const server = await LiveServer.listen({ host: '127.0.0.1', port: 0, token: 'control-secret', statsEveryMs: 0 });
    const open: WebSocket[] = [];
    try {
      const url = server.url;
      const refused: number[] = [];
      for (let a = 1; a <= 8; a++) {
        for (let i = 0; i < 8; i++) {
          const r = await hold(url, { localAddress: `127.0.0.${a}` });
          if (typeof r === 'number') refused.push(r);
          else open.push(r);
        }
      }
      // The anonymous ones share all but an eighth of the 64 places.
      expect(open.length).toBe(56);
      expect(refused.every((s) => s === 503)).toBe(true);
      expect(await upgradeStatus(url, { token: 'control-secret' })).toBe(101);
      expect(await upgradeStatus(url, { localAddress: '127.0.0.9' })).toBe(503);
    } finally {
      for (const ws of open) ws.terminate();
      await sleep(50);
      await server.close();
    }
  });
});

describe('text from files', () => {
  it('info shows control characters in a recipe escaped, and stages one field a line', async () => {
    const png = await sharp(join(SAMPLES, 'mandelbrot.png')).resize(32).png().toBuffer();
    const recipe = {
      dreamflow: '0.1.0',
      command: 'image',
      spec: { source: { kind: 'image', path: 'a\u001b]0;pwned\u0007.png' }, stages: [{ kind: 'dream', octaves: 1 }], sinks: [{ kind: 'image', path: 'out.png' }] },
      reproduce: 'rm -rf ~ \u001b[2K\rdreamflow image a.png -o b.png',
    };
    const file = join(dir, 'hostile.png');
    writeFileSync(file, embedPng(png, JSON.stringify(recipe)));
    const r = await runCli(['info', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(r.stdout).toContain('reproduce: rm -rf ~ \\e[2K\\rdreamflow image a.png -o b.png');
    expect(r.stdout).toContain('spec.source.path: a\\e]0;pwned\\x07.png');
    expect(r.stdout).toContain('spec.stages[0].octaves: 1');
    expect(r.stdout).not.toContain('[object Object]');
  });

  it('a file name that is not UTF-8 is named as such, not as missing', async () => {
    const raw = Buffer.concat([Buffer.from(join(dir, 'caf')), Buffer.from([0xe9]), Buffer.from('.png')]);
    writeFileSync(raw, 'not read');
    // What Node hands the CLI for that name's bytes on its command line.
    const r = await runCli(['info', join(dir, 'caf\uFFFD.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the name is not valid UTF-8/);
  });
});

describe('pipeline overrides and flags', () => {
  it('--set refuses prototype path parts and unknown fields', async () => {
    const base = join(dir, 'base.json');
    writeFileSync(base, JSON.stringify({ source: { kind: 'video', path: 'a.mp4' }, stages: [{ kind: 'dream' }], sinks: [{ kind: 'video', path: 'b.mp4' }] }));
    for (const assignment of ['__proto__.duration=0.3', 'stages[0].constructor.prototype.iterations=1', 'source.__proto__={"x":1}']) {
      const r = await runCli(['run', base, '--set', assignment, '--print-config']);
      expect(r.code, assignment).toBe(2);
      expect(r.stderr.trim().split('\n'), assignment).toHaveLength(1);
      expect(r.stderr, assignment).toMatch(/is not a field/);
    }
    const unknown = await runCli(['run', base, '--set', 'source.bogus=0.3', '--print-config']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/source\.bogus: unknown field/);
  });

  it('a missing kind reads "got nothing"; layers --gallery refuses flags it would ignore', async () => {
    const bad = join(dir, 'nokind.json');
    writeFileSync(bad, JSON.stringify({ source: { path: 'a.mp4' }, stages: [{}], sinks: [{ kind: 'video', path: 'b.mp4' }] }));
    const r = await runCli(['run', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/source\.kind: expected one of image, folder, video, zoom, live, got nothing/);
    expect(r.stderr).not.toMatch(/undefined/);
    const gallery = await runCli(['layers', '--gallery', join(dir, 'g.png'), '--input', join(SAMPLES, 'mandelbrot.png'), '--guide', '/nonexistent.png']);
    expect(gallery.code).toBe(2);
    expect(gallery.stderr).toMatch(/layers --gallery does not use --guide/);
  });
});

describe('tools and temp files', () => {
  it('an MPEG-TS input with only the bundled ffprobe: says what it cannot read and how to get a current ffmpeg', async () => {
    const ts = join(dir, 'clip.ts');
    await ffmpegRun(['-y', '-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=12', '-t', '0.5', '-c:v', 'mpeg2video', '-f', 'mpegts', ts]);
    const bundled = (createRequire(import.meta.url)('@ffprobe-installer/ffprobe') as { path: string }).path;
    const crashes = spawnSync(bundled, ['-v', 'error', '-show_format', ts]).signal !== null;
    // Only the bundled tools: no ffmpeg on PATH, none named by the environment.
    const env = { PATH: dirname(process.execPath), FFMPEG_PATH: '', FFPROBE_PATH: '' };
    const r = await runCli(['video', ts, '-o', join(dir, 'from-ts.mp4'), '--octaves', '1', '--iterations', '1', '--frame-iterations', '1', '--quiet'], { env });
    expect(r.stderr).not.toMatch(/not a readable media file/);
    if (crashes) {
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/ffprobe bundled from npm crashed reading it \(that build cannot read MPEG-TS.*apt-get install ffmpeg/);
    } else {
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('a dream leaves nothing in the temp folder (no mat-debug-*.log or .ses from ONNX Runtime, no dreamflow temp file) nor telemetry in the home folder', async () => {
    const tmp = join(dir, 'tmp');
    const home = join(dir, 'home');
    mkdirSync(tmp);
    mkdirSync(home);
    const env = { TMPDIR: tmp, HOME: home };
    const clip = await makeClip({ width: 96, height: 64, fps: 12, seconds: 0.25, dir, name: 'tmpcheck.mp4' });
    const image = await runCli(['image', '--from', 'noise', '--size', '32', '--octaves', '1', '--iterations', '1', '-o', join(dir, 'tmpcheck.png'), '--quiet'], { env });
    expect(image.code, image.stderr).toBe(0);
    const video = await runCli(['video', clip, '-o', join(dir, 'tmpcheck-out.mp4'), '--octaves', '1', '--iterations', '1', '--frame-iterations', '1', '--quiet'], { env });
    expect(video.code, video.stderr).toBe(0);
    expect(readdirSync(tmp)).toEqual([]);
    // ONNX Runtime's telemetry keeps a device id and an event database under ~/.cache/Microsoft.
    expect(readdirSync(home)).toEqual([]);
  });
});
