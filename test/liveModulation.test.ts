/**
 * Schedules and --react on `dreamflow live` (src/pipeline/liveModulation.ts): the running
 * loudness maths, and the real command on generated clips (real ffmpeg, 127.0.0.1 only, 96x64 at
 * 5 fps), read through /stats as a viewer's HUD reads it.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layer } from '../src/dream/objectives.js';
import { ffmpegRun } from '../src/media/run.js';
import { LiveModulator, RunningLoudness, nextLoudness, normalisedLoudness, PEAK_MEMORY_SECONDS, SILENCE_FLOOR } from '../src/pipeline/liveModulation.js';
import { modulationOf } from '../src/pipeline/schedule.js';
import { parseScheduleFlag } from '../src/pipeline/schedule.js';
import { runCli } from './helpers/cli.js';
import { healthz, sleep, startLiveCommand, waitFor } from './helpers/live.js';
import { tempDir } from './helpers/paths.js';

const LIGHT = ['--size', '96x64', '--fps', '5', '--port', '0', '--layer', 'inception_3b/output', '--octaves', '1', '--frame-iterations', '1', '--workers', '1'];

/** Interleaved stereo s16le: `seconds` of a sine of amplitude `amp` (0 is silence). */
function pcm(seconds: number, amp: number, rate = 48_000): Buffer {
  const n = Math.round(seconds * rate);
  const out = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    const v = Math.round(amp * 32767 * Math.sin((2 * Math.PI * 440 * i) / rate));
    out.writeInt16LE(v, i * 4);
    out.writeInt16LE(v, i * 4 + 2);
  }
  return out;
}

describe('running loudness of a live feed', () => {
  it('is 0 in silence, 1 at the running peak, and a quieter passage rises as the peak decays', () => {
    const l = new RunningLoudness(48_000, 2, 5, 0.15);
    l.push(pcm(1, 0));
    expect(l.value).toBe(0);
    l.push(pcm(1, 0.8));
    expect(l.value).toBeGreaterThan(0.95);
    // A tenth as loud: at first a tenth of the peak, then, as the peak is forgotten, loud again.
    l.push(pcm(0.5, 0.08));
    const soon = l.value;
    expect(soon).toBeLessThan(0.3);
    for (let i = 0; i < 4 * PEAK_MEMORY_SECONDS; i++) l.push(pcm(1, 0.08));
    expect(l.value).toBeGreaterThan(0.9);
    // Chunks that split a sample anywhere give the same answer.
    const whole = new RunningLoudness(48_000, 2, 5, 0.15);
    const split = new RunningLoudness(48_000, 2, 5, 0.15);
    const sound = Buffer.concat([pcm(0.7, 0), pcm(0.7, 0.5)]);
    whole.push(sound);
    for (let i = 0; i < sound.length; i += 777) split.push(sound.subarray(i, i + 777));
    expect(split.value).toBeCloseTo(whole.value, 6);
  });

  it('never scales near-silence up to loud, and smooths with its time constant', () => {
    let s = { level: 0, peak: 0 };
    for (let i = 0; i < 100; i++) s = nextLoudness(s, SILENCE_FLOOR / 10, 0.2, 0.15);
    expect(normalisedLoudness(s)).toBeCloseTo(0.1, 3);
    // One time constant after a step from 0 to 1, the level is at 1 - 1/e of it.
    const after = nextLoudness({ level: 0, peak: 1 }, 1, 0.5, 0.5);
    expect(after.level).toBeCloseTo(1 - Math.exp(-1), 6);
  });

  it('a schedule runs on seconds since the first dreamed frame; a layer cross-fade keeps one objective while it holds', () => {
    const m = modulationOf({
      schedule: { step: parseScheduleFlag('step=0:0.2,3:4').keys, layer: parseScheduleFlag('layer=0:inception_3b/output,2:inception_4a/output').keys },
      crossfade: 1,
    })!;
    const layers = new Map([
      ['inception_3b/output', layer('inception_3b/output')],
      ['inception_4a/output', layer('inception_4a/output')],
    ]);
    const base = layer('inception_4c/output');
    const mod = new LiveModulator(m, layers);
    const t0 = 5000;
    const first = mod.next(t0, base);
    expect(first.dream.step).toBe(0.2);
    expect(first.objective!.terms.map((t) => t.layer)).toEqual(['inception_3b/output']);
    expect(mod.next(t0 + 100, base).objective).toBe(first.objective);
    expect(mod.next(t0 + 1500, base).dream.step).toBeCloseTo(2.1, 6);
    const fading = mod.next(t0 + 2500, base).objective!;
    expect(fading.terms.map((t) => [t.layer, t.weight])).toEqual([
      ['inception_3b/output', 0.5],
      ['inception_4a/output', 0.5],
    ]);
    expect(mod.next(t0 + 9000, base).values).toEqual({ step: 4 });
    expect(() => new LiveModulator(modulationOf({ schedule: { zoom: [[0, 1], [2, 1.1]] } })!, new Map())).toThrow(/zoom moves a zoom animation/);
  });
});

describe('dreamflow live --schedule / --react', () => {
  let dir: string;
  let clip: string;
  let silent: string;

  beforeAll(async () => {
    dir = tempDir('dreamflow-livemod-');
    clip = join(dir, 'quiet-then-loud.mp4');
    silent = join(dir, 'no-sound.mp4');
    // 4 s at 5 fps; the sound silent for 2 s, then a loud sine for 2 s.
    const graph = 'anullsrc=r=8000:cl=mono,atrim=0:2[a];sine=frequency=440:sample_rate=8000,atrim=0:2[b];[a][b]concat=n=2:v=0:a=1[s]';
    await ffmpegRun(['-y', '-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=5', '-filter_complex', graph, '-map', '0:v', '-map', '[s]', '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', clip]);
    await ffmpegRun(['-y', '-f', 'lavfi', '-i', 'testsrc2=size=96x64:rate=5', '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', silent]);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Run live on the clip to its end, polling /stats: [seconds since the first dreamed frame, applied step]. */
  async function appliedSteps(args: string[]): Promise<Array<[number, number]>> {
    const cmd = startLiveCommand(['--input', clip, ...LIGHT, ...args]);
    const seen: Array<[number, number]> = [];
    try {
      await waitFor(() => /open http:\/\/127\.0\.0\.1:\d+\//.test(cmd.out.stdout) || cmd.child.exitCode !== null, 60_000, `the URL (stderr: ${cmd.out.stderr})`);
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(cmd.out.stdout)?.[1];
      expect(url, cmd.out.stderr).toBeDefined();
      let first: number | undefined;
      while (cmd.child.exitCode === null) {
        const stats = await healthz(url!).catch(() => undefined);
        const step = stats?.modulated?.step as number | undefined;
        if (step !== undefined) {
          first ??= Date.now();
          seen.push([(Date.now() - first) / 1000, step]);
        }
        await sleep(100);
      }
      const { code } = await cmd.exited;
      expect(code, cmd.out.stderr).toBe(0);
      expect(cmd.out.stderr).toMatch(/input ended after \d+ dreamed frames/);
    } finally {
      if (cmd.child.exitCode === null && cmd.child.signalCode === null) cmd.child.kill('SIGKILL');
    }
    return seen;
  }

  it('--schedule step=0:0.2,3:4 raises the applied step over the run', async () => {
    const seen = await appliedSteps(['--schedule', 'step=0:0.2,3:4']);
    const early = seen.filter(([t]) => t < 0.5).map(([, s]) => s);
    // A reading is the last dreamed frame's, up to a frame period older than the poll.
    const late = seen.filter(([t]) => t > 2.8).map(([, s]) => s);
    console.log(`schedule on live: early steps ${early.map((s) => s.toFixed(2)).join(' ')}; late ${late.map((s) => s.toFixed(2)).join(' ')}`);
    expect(early.length).toBeGreaterThan(0);
    expect(late.length).toBeGreaterThan(0);
    expect(Math.max(...early)).toBeLessThan(1);
    expect(Math.min(...late)).toBeGreaterThan(3.2);
    // In the scheduled direction all along: each reading at least the one before.
    for (let i = 1; i < seen.length; i++) expect(seen[i]![1]).toBeGreaterThanOrEqual(seen[i - 1]![1]);
  }, 90_000);

  it('--react step=0.2..4 follows the input\'s sound: low while it is silent, high once it is loud', async () => {
    const seen = await appliedSteps(['--react', 'step=0.2..4']);
    // The sound turns loud 2 s into the clip, which started playing just before the first frame.
    const quiet = seen.filter(([t]) => t < 1.2).map(([, s]) => s);
    const loud = seen.filter(([t]) => t > 2.8).map(([, s]) => s);
    console.log(`react on live: silent part steps ${quiet.map((s) => s.toFixed(2)).join(' ')}; loud part ${loud.map((s) => s.toFixed(2)).join(' ')}`);
    expect(quiet.length).toBeGreaterThan(0);
    expect(loud.length).toBeGreaterThan(0);
    expect(Math.max(...quiet)).toBeLessThan(0.5);
    expect(Math.min(...loud)).toBeGreaterThan(3);
  }, 90_000);

  it('--react on an input without sound stops before any work with one line, exit 2', async () => {
    for (const input of ['lavfi:testsrc2', silent]) {
      const r = await runCli(['live', '--input', input, ...LIGHT, '--react', 'step=0.2..4'], { timeoutMs: 30_000 });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^dreamflow: live --react follows the input's sound: .*(has none|no audio stream)/);
    }
  }, 60_000);
});
