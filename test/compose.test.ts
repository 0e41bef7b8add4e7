/**
 * Stages compose (docs/architecture.md, "Where to add things"): a stage kind and a sink kind
 * added from this file, each one module and one registry line, run by runPipeline on a video in
 * the order the spec gives.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame } from '../src/frame.js';
import { runPipeline } from '../src/pipeline/run.js';
import { registerSink, type SinkModule } from '../src/pipeline/sinkRegistry.js';
import type { PipelineSpec } from '../src/pipeline/spec/fields.js';
import { defineSection, string } from '../src/pipeline/spec/fields.js';
import { registerStage } from '../src/pipeline/stageRegistry.js';
import type { StageModule } from '../src/pipeline/stageModule.js';
import { makeClip, removeDir, tempDir } from '../bench/fixtures/clips.js';

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
