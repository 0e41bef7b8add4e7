/**
 * runPipeline: one entry point for every job, whatever made its spec (a subcommand's flags, a
 * pipeline file, a recipe). The source kind picks the loop: pictures are dreamed whole, video
 * files go through the resumable file loop, live sources through the live loop; the stage
 * registry (stages.ts) and the sinks of the spec say what happens to each frame.
 */
import { UserError } from '../errors.js';
import type { JobResult, RunOptions } from './job.js';
import type { PipelineSpec, SourceKind } from './spec.js';
import { validateSpec } from './spec.js';

type Job = (spec: PipelineSpec, opts: RunOptions) => Promise<JobResult>;

/** The loop of each source kind, loaded when used (a picture job never loads ffmpeg or the server). */
export const SOURCE_JOBS: Record<SourceKind, () => Promise<Job>> = {
  image: async () => (await import('./pictures.js')).runImageJob,
  folder: async () => (await import('./pictures.js')).runStillsJob,
  video: async () => (await import('./videoFile.js')).runVideoFileJob,
  live: async () => (await import('./liveSession.js')).runLiveJob,
};

/** Validate and run a spec. */
export async function runPipeline(spec: PipelineSpec, opts: RunOptions): Promise<JobResult> {
  const valid = validateSpec(spec);
  if (opts.resume && valid.source.kind !== 'video' && valid.source.kind !== 'folder') {
    throw new UserError(`--resume applies to video, vr and stills pipelines, not to a ${valid.source.kind} pipeline`);
  }
  const job = await SOURCE_JOBS[valid.source.kind as SourceKind]();
  return job(valid, opts);
}
