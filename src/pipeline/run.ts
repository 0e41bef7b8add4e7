/**
 * runPipeline: one entry point for every job, whatever made its spec (a subcommand's flags, a
 * pipeline file, a recipe). The source kind picks the loop: pictures are dreamed whole, video
 * files go through the resumable file loop, live sources through the live loop; the stage
 * registry (stages.ts) and the sinks of the spec say what happens to each frame.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { JobResult, RunOptions } from './job.js';
import type { PipelineSpec, SourceKind } from './spec.js';
import { validateSpec } from './spec.js';
import { guardOutputs, type GuardedOutput, type OutputClaim } from '../sinks/outputGuard.js';
import { workDirFor } from './checkpoint.js';

type Job = (spec: PipelineSpec, opts: RunOptions) => Promise<JobResult>;
type Precheck = (spec: PipelineSpec, opts: RunOptions) => Promise<void>;

/** The loop of each source kind, loaded when used (a picture job never loads ffmpeg or the server). */
export const SOURCE_JOBS: Record<SourceKind, () => Promise<Job>> = {
  image: async () => (await import('./pictures.js')).runImageJob,
  folder: async () => (await import('./pictures.js')).runStillsJob,
  video: async () => (await import('./videoFile.js')).runVideoFileJob,
  live: async () => (await import('./liveSession.js')).runLiveJob,
  zoom: async () => (await import('./zoomFile.js')).runZoomJob,
};

/**
 * Checks of a source kind that need no engine, run before its loop loads (loading the engines
 * takes a second): the memory a picture or a live feed will need.
 */
const PRECHECKS: Partial<Record<SourceKind, () => Promise<Precheck>>> = {
  image: async () => (await import('./footprint.js')).checkPictureMemory,
  live: async () => (await import('./footprint.js')).checkLiveMemory,
};

/** The files a spec reads: its source and a dream stage's guide picture. */
export function specInputs(spec: PipelineSpec): string[] {
  const source = spec.source.kind === 'live' ? spec.source.input : spec.source.path;
  const guides = spec.stages.map((s) => s.guide);
  return [source, spec.source.audio, ...guides].filter((p): p is string => typeof p === 'string');
}

/** Where a sink writes a file (or, for a folder sink, the folder), if it writes one. */
function fileTarget(sink: PipelineSpec['sinks'][number]): string | undefined {
  if (typeof sink.path === 'string') return sink.path;
  // An HLS playlist is files in a folder; any other push target is a URL.
  if (sink.kind === 'push' && typeof sink.url === 'string' && /\.m3u8$/i.test(sink.url) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(sink.url)) return sink.url;
  return undefined;
}

/**
 * Before any work, the output guard (sinks/outputGuard.ts) on every file a spec writes: none is
 * an input, each folder exists and takes files, names fit, an existing output is replaced only
 * as `opts.overwrite` says (a video resumed with --resume continues its own), and each is locked
 * against a second run. A folder output that does not exist yet is checked where it will be made.
 */
export async function guardSpecOutputs(spec: PipelineSpec, opts: Pick<RunOptions, 'resume' | 'overwrite'>): Promise<OutputClaim> {
  const outputs: GuardedOutput[] = [];
  for (const sink of spec.sinks) {
    const target = fileTarget(sink);
    if (target === undefined) continue;
    if (sink.kind === 'push') {
      // An HLS playlist is rewritten all along; a missing folder is the push sink's to report.
      if (existsSync(dirname(resolve(target)))) outputs.push({ path: target, continues: true });
      continue;
    }
    outputs.push({
      path: target,
      folder: sink.kind === 'folder',
      continues: opts.resume && sink.kind === 'video' && existsSync(workDirFor(target)),
    });
  }
  return guardOutputs(outputs, { inputs: specInputs(spec), overwrite: opts.overwrite ?? 'ask' });
}

/** Validate and run a spec. */
export async function runPipeline(spec: PipelineSpec, opts: RunOptions): Promise<JobResult> {
  const valid = validateSpec(spec);
  if (opts.resume && valid.source.kind !== 'video' && valid.source.kind !== 'folder' && valid.source.kind !== 'zoom') {
    throw new UserError(`--resume applies to video, vr, zoom and stills pipelines, not to a ${valid.source.kind} pipeline`);
  }
  const claim = await guardSpecOutputs(valid, opts);
  try {
    const precheck = PRECHECKS[valid.source.kind as SourceKind];
    if (precheck) await (await precheck())(valid, opts);
    const job = await SOURCE_JOBS[valid.source.kind as SourceKind]();
    return await job(valid, opts);
  } finally {
    claim.release();
  }
}
