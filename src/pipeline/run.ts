/**
 * runPipeline: one entry point for every job, whatever made its spec (a subcommand's flags, a
 * pipeline file, a recipe). The source kind picks the loop: pictures are dreamed whole, video
 * files go through the resumable file loop, live sources through the live loop; the stage
 * registry (stages.ts) and the sinks of the spec say what happens to each frame.
 */
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
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

/** The same file after following links (a path that does not exist yet is only resolved). */
async function identity(path: string): Promise<string> {
  return realpath(path).catch(() => resolve(path));
}

/**
 * Before any work: no output may be the input (after resolving links), or the dream would
 * replace what it was made from.
 */
async function refuseOverwritingInput(spec: PipelineSpec): Promise<void> {
  const source = spec.source.kind === 'live' ? spec.source.input : spec.source.path;
  if (typeof source !== 'string') return;
  const input = await identity(source);
  for (const sink of spec.sinks) {
    const target = typeof sink.path === 'string' ? sink.path : undefined;
    if (target !== undefined && (await identity(target)) === input) {
      throw new UserError(`${target} is the input ${source}: write the dream to another ${spec.source.kind === 'folder' ? 'folder' : 'file'} (the input would be lost)`);
    }
  }
}

/** Validate and run a spec. */
export async function runPipeline(spec: PipelineSpec, opts: RunOptions): Promise<JobResult> {
  const valid = validateSpec(spec);
  await refuseOverwritingInput(valid);
  if (opts.resume && valid.source.kind !== 'video' && valid.source.kind !== 'folder') {
    throw new UserError(`--resume applies to video, vr and stills pipelines, not to a ${valid.source.kind} pipeline`);
  }
  const job = await SOURCE_JOBS[valid.source.kind as SourceKind]();
  return job(valid, opts);
}
