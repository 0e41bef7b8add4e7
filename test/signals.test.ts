/**
 * The signal policy (docs/architecture.md, "Signals"), per command family: SIGINT, SIGTERM and
 * SIGHUP stop a job cleanly (a picture or sweep writes nothing and exits 130, a video keeps its
 * checkpoint and exits 130, a live job finishes its recording and exits 0); a second signal ends
 * the process at once by that signal, never by a native abort.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip, removeDir } from '../bench/fixtures/clips.js';
import { probe } from '../src/media/probe.js';
import { BIN, tempDir } from './helpers/paths.js';

interface Run {
  child: ChildProcess;
  out: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], cwd: string): Run {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  return { child, out: () => text, exited };
}

async function until(check: () => boolean, what: string, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Temp files, locks and partial outputs a stopped job must not leave (a video's work folder may stay). */
function litter(dir: string): string[] {
  return readdirSync(dir).filter((n) => /\.(partial-\d+|lock)/.test(n));
}

/** A native abort, as a second Ctrl-C during an ONNX Runtime call once gave. */
const NATIVE_ABORT = /terminate called|Napi::Error|Aborted|internal error/;

describe('signals', () => {
  let dir: string;
  let clip: string;
  beforeAll(async () => {
    dir = tempDir();
    clip = await makeClip({ width: 96, height: 64, fps: 30, seconds: 4, audio: true, dir, name: 'clip.mp4' });
  });
  afterAll(() => removeDir(dir));

  it('image: the first SIGINT stops the dream at the next step; nothing is written (130)', async () => {
    const out = join(dir, 'stopped.png');
    const run = start(['image', '--from', 'noise', '--size', '300', '--octaves', '1', '--iterations', '200', '-o', out], dir);
    await until(() => /dreaming: \d/.test(run.out()), 'the first step');
    const sent = Date.now();
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    expect(Date.now() - sent).toBeLessThan(15_000);
    expect(code).toBe(130);
    expect(run.out()).toMatch(/^dreamflow: stopped before the output was written: nothing written$/m);
    expect(run.out()).not.toMatch(NATIVE_ABORT);
    expect(existsSync(out)).toBe(false);
    expect(litter(dir)).toEqual([]);
  });

  it('a second SIGINT 50 ms after the first ends image, video and live at once, by SIGINT, with no native abort', async () => {
    const jobs: Array<{ args: string[]; ready: RegExp }> = [
      { args: ['image', '--from', 'noise', '--size', '300', '--octaves', '1', '--iterations', '200', '-o', join(dir, 'twice.png')], ready: /dreaming: \d/ },
      { args: ['video', clip, '--size', '400', '-o', join(dir, 'twice.mp4')], ready: /dreaming: \d/ },
      { args: ['live', '--input', 'lavfi:testsrc2', '--size', '160x120', '--fps', '8', '--port', '0', '--workers', '1', '--record', join(dir, 'twice-rec.mp4')], ready: /open http/ },
    ];
    for (const job of jobs) {
      const run = start(job.args, dir);
      await until(() => job.ready.test(run.out()), `${job.args[0]} to start`);
      await sleep(700);
      run.child.kill('SIGINT');
      await sleep(50);
      run.child.kill('SIGINT');
      const sent = Date.now();
      const { code, signal } = await run.exited;
      expect(Date.now() - sent, job.args[0]).toBeLessThan(5_000);
      expect(run.out(), job.args[0]).not.toMatch(NATIVE_ABORT);
      // Ended by the signal itself (the shell shows 130), or, had the first already finished the job, its own exit.
      expect(signal === 'SIGINT' || code === 130 || code === 0, `${job.args[0]}: code ${code}, signal ${signal}`).toBe(true);
      expect(litter(dir), job.args[0]).toEqual([]);
    }
  });

  it('sweep: SIGTERM stops it like a video, exit 130', async () => {
    const sheet = join(dir, 'sheet.png');
    const run = start(['sweep', '--from', 'noise', '--size', '200', '-o', sheet, '--iterations', '100,120', '--octaves', '1'], dir);
    // Its lock is taken before the model loads; the cells are dreaming a few seconds later.
    await until(() => existsSync(join(dir, '.sheet.png.lock')), 'the sweep to start');
    await sleep(3000);
    run.child.kill('SIGTERM');
    const { code } = await run.exited;
    expect(code).toBe(130);
    expect(run.out()).toMatch(/stopped before the output was written/);
    expect(existsSync(sheet)).toBe(false);
    expect(existsSync(join(dir, 'sheet.json'))).toBe(false);
  });

  it('video: SIGHUP (a closed terminal) keeps the checkpoint and exits 130 with the resume hint', async () => {
    const out = join(dir, 'hup.mp4');
    const run = start(['video', clip, '-o', out, '--octaves', '1', '--iterations', '1', '--frame-iterations', '1', '--model', 'squeezenet'], dir);
    await until(() => existsSync(join(dir, '.hup.mp4.dreamflow', 'state.bin')), 'a committed frame');
    run.child.kill('SIGHUP');
    const { code } = await run.exited;
    expect(code).toBe(130);
    expect(run.out()).toMatch(/interrupted after \d+ finished frame\(s\); run the same command with --resume/);
    expect(existsSync(join(dir, '.hup.mp4.dreamflow', 'state.bin'))).toBe(true);
    expect(litter(dir)).toEqual([]);
  });

  it('live --record: SIGHUP finishes and renames the recording, exit 0', async () => {
    const record = join(dir, 'hup-rec.mp4');
    const run = start(['live', '--input', 'lavfi:testsrc2', '--size', '96x64', '--fps', '8', '--port', '0', '--workers', '1', '--octaves', '1', '--iterations', '1', '--frame-iterations', '1', '--model', 'squeezenet', '--record', record], dir);
    await until(() => /open http/.test(run.out()), 'the server');
    await sleep(2000);
    run.child.kill('SIGHUP');
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(run.out()).toMatch(/stopped after \d+ dreamed frames/);
    expect((await probe(record)).frameCount).toBeGreaterThan(2);
    expect(litter(dir)).toEqual([]);
  });
});
