/**
 * Stages compose (docs/architecture.md, "Where to add things"): a stage kind and a sink kind
 * added from this file, each one module and one registry line, run by runPipeline on a video in
 * the order the spec gives.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame } from '../src/frame.js';
import { runPipeline } from '../src/pipeline/run.js';
import { registerSink, type SinkModule } from '../src/pipeline/sinkRegistry.js';
import type { PipelineSpec } from '../src/pipeline/spec/fields.js';
import { defineSection, string } from '../src/pipeline/spec/fields.js';
import { registerStage } from '../src/pipeline/stageRegistry.js';
import type { StageModule } from '../src/pipeline/stageModule.js';
import { makeClip, removeDir, tempDir } from '../bench/fixtures/clips.js';
import { ROOT } from './helpers/paths.js';

/** A toy stage: every byte turned into its complement. No state, nothing to resume. */
const invert: StageModule = {
  kind: 'invert',
  accepts: ['frame', 'dreamed'],
  gives: 'frame',
  sources: ['video'],
  create: () => ({
    process: async (frame: Frame): Promise<Frame> => ({ ...frame, data: frame.data.map((v) => 255 - v) }),
    snapshot: () => undefined,
    restore: () => undefined,
  }),
};

/** A toy sink: the frames it is given, kept under its `name` when it closes. */
const collected = new Map<string, Uint8Array[]>();
const collectSection = defineSection({ kind: 'collect', role: 'sink', help: 'keep the frames in memory', fields: [string('name', 'where the frames are kept', { required: true })] });
const collect: SinkModule<{ kind: string; name: string }> = {
  kind: 'collect',
  section: collectSection,
  sources: ['video'],
  open: async (_context, settings) => {
    const frames: Uint8Array[] = [];
    return {
      write: async (frame) => void frames.push(frame.data.slice()),
      close: async () => void collected.set(settings.name, frames),
      abort: async () => undefined,
    };
  },
};

registerStage(invert);
registerSink(collect);

const DREAM = { kind: 'dream', octaves: 1, iterations: 2, layer: 'inception_3b/output', seed: 3 };

describe('stages and sinks added by a module each', () => {
  let dir: string;
  let clip: string;
  beforeAll(async () => {
    dir = await tempDir();
    clip = await makeClip({ pattern: 'testsrc2', width: 96, height: 64, fps: 12, seconds: 0.25, dir, name: 'clip.mp4' });
  });
  afterAll(() => removeDir(dir));

  async function framesOf(name: string, stages: PipelineSpec['stages']): Promise<Uint8Array[]> {
    const spec: PipelineSpec = { source: { kind: 'video', path: clip }, stages, sinks: [{ kind: 'video', path: join(dir, `${name}.mp4`) }, { kind: 'collect', name }] };
    const result = await runPipeline(spec, { quiet: true, resume: false, overwrite: 'yes' });
    expect(result.summary.frames, name).toBe(3);
    return collected.get(name)!;
  }

  it('runs the stages in the spec order: swapping two stages changes the frames', async () => {
    const dreamed = await framesOf('dream', [DREAM]);
    const thenInverted = await framesOf('dream-invert', [DREAM, { kind: 'invert' }]);
    const invertedFirst = await framesOf('invert-dream', [{ kind: 'invert' }, DREAM]);
    expect(dreamed).toHaveLength(3);
    // The invert stage took the dream stage's frames: each byte the complement of the dream's.
    for (const [i, frame] of thenInverted.entries()) expect(Buffer.from(frame).equals(Buffer.from(dreamed[i]!.map((v) => 255 - v))), `frame ${i}`).toBe(true);
    // Inverting first dreams another picture: neither the dream nor its complement.
    for (const [i, frame] of invertedFirst.entries()) {
      expect(Buffer.from(frame).equals(Buffer.from(thenInverted[i]!)), `frame ${i}`).toBe(false);
      expect(Buffer.from(frame).equals(Buffer.from(dreamed[i]!)), `frame ${i}`).toBe(false);
    }
  });

  it('refuses a carrying stage that does not follow the stage it takes over, naming its path', async () => {
    const spec: PipelineSpec = { source: { kind: 'video', path: clip }, stages: [DREAM, { kind: 'invert' }, { kind: 'temporal' }], sinks: [{ kind: 'video', path: join(dir, 'refused.mp4') }] };
    await expect(runPipeline(spec, { quiet: true, resume: false, overwrite: 'yes' })).rejects.toThrow(/stages\[2\]: temporal cannot come after invert/);
  });
});

describe('the run loop over a long job', () => {
  it('keeps no frame alive after it is written, though a job-long stop signal is watched at every frame', async () => {
    // In a child with --expose-gc, so that what stays reachable can be measured after a collection.
    const script = `
      import { runLoop } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/src/pipeline/runLoop.js')).href)};
      import { unlessStopped } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/src/errors.js')).href)};
      const job = new AbortController();
      async function* frames() { for (let i = 0; i < 120; i++) yield { index: i, ptsSeconds: i, width: 1, height: 1, data: new Uint8Array(1 << 20) }; }
      const stage = { process: async (f) => ({ ...f, data: new Uint8Array(1 << 20) }) };
      const sink = { write: async () => undefined, close: async () => undefined, abort: async () => undefined };
      const written = await runLoop(frames(), stage, [sink], { signal: job.signal, stopped: () => new Error('stopped') });
      global.gc();
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 10);
      const stopped = () => new Error('stopped');
      const late = await unlessStopped(new Promise((r) => setTimeout(r, 200, 'late')), stop.signal, stopped).catch((e) => e.message);
      const after = await unlessStopped(Promise.resolve('after'), stop.signal, stopped).catch((e) => e.message);
      console.log(JSON.stringify({ written, megabytes: process.memoryUsage().arrayBuffers / 2 ** 20, late, after }));`;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { written: number; megabytes: number; late: string; after: string };
    expect(out.written).toBe(120);
    // 240 MiB went through; a leak keeps all of it (a Promise.race against a job-long stop promise
    // keeps each frame).
    expect(out.megabytes).toBeLessThan(16);
    // The stop still wins over slow work, and answers at once once it has come.
    expect([out.late, out.after]).toEqual(['stopped', 'stopped']);
  });
});
