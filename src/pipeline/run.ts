/**
 * runPipeline: one entry point for every job, whatever made its spec (a subcommand's flags, a
 * pipeline file, a recipe). The source kind picks the loop: pictures are dreamed whole, video
 * files go through the resumable file loop, live sources through the live loop; the stage
 * registry (stages.ts) and the sinks of the spec say what happens to each frame.
 */
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { JobResult, RunOptions } from './job.js';
import type { PipelineSpec, SourceKind } from './spec.js';
import { validateSpec } from './spec.js';
import { checkWritableFolder, existingAncestor } from '../sinks/writable.js';

type Job = (spec: PipelineSpec, opts: RunOptions) => Promise<JobResult>;
type Precheck = (spec: PipelineSpec, opts: RunOptions) => Promise<void>;

/** The loop of each source kind, loaded when used (a picture job never loads ffmpeg or the server). */
export const SOURCE_JOBS: Record<SourceKind, () => Promise<Job>> = {
  image: async () => (await import('./pictures.js')).runImageJob,
  folder: async () => (await import('./pictures.js')).runStillsJob,
  video: async () => (await import('./videoFile.js')).runVideoFileJob,
  live: async () => (await import('./liveSession.js')).runLiveJob,
};

/**
 * Checks of a source kind that need no engine, run before its loop loads (loading the engines
 * takes a second): the memory a picture or a live feed will need.
 */
const PRECHECKS: Partial<Record<SourceKind, () => Promise<Precheck>>> = {
  image: async () => (await import('./footprint.js')).checkPictureMemory,
  live: async () => (await import('./footprint.js')).checkLiveMemory,
};

/** The same file after following links (a path that does not exist yet is only resolved). */
async function identity(path: string): Promise<string> {
  return realpath(path).catch(() => resolve(path));
}

/**
 * Before any work: no output may be the input (after resolving links), or the dream would
 * replace what it was made from.
 */
export async function refuseOverwritingInput(spec: PipelineSpec): Promise<void> {
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

/** Where a sink writes a file (or, for a folder sink, the folder), if it writes one. */
function fileTarget(sink: PipelineSpec['sinks'][number]): string | undefined {
  if (typeof sink.path === 'string') return sink.path;
  // An HLS playlist is files in a folder; any other push target is a URL.
  if (sink.kind === 'push' && typeof sink.url === 'string' && /\.m3u8$/i.test(sink.url) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(sink.url)) return sink.url;
  return undefined;
}

/**
 * Before any work: every file output's folder exists and takes files (a probe is written and
 * removed), so a read-only, foreign or full disk is refused now rather than after the dream. A
 * folder output that does not exist yet is checked where it will be created.
 */
function refuseUnwritableOutputs(spec: PipelineSpec): void {
  for (const sink of spec.sinks) {
    const target = fileTarget(sink);
    if (target === undefined) continue;
    if (sink.kind === 'folder') {
      checkWritableFolder(existingAncestor(target), target);
      continue;
    }
    const folder = dirname(resolve(target));
    // A missing HLS folder is the push sink's to report, in its words.
    if (sink.kind === 'push' && !existsSync(folder)) continue;
    checkWritableFolder(folder, target);
  }
}

/** Validate and run a spec. */
export async function runPipeline(spec: PipelineSpec, opts: RunOptions): Promise<JobResult> {
  const valid = validateSpec(spec);
  await refuseOverwritingInput(valid);
  refuseUnwritableOutputs(valid);
  if (opts.resume && valid.source.kind !== 'video' && valid.source.kind !== 'folder') {
    throw new UserError(`--resume applies to video, vr and stills pipelines, not to a ${valid.source.kind} pipeline`);
  }
  const precheck = PRECHECKS[valid.source.kind as SourceKind];
  if (precheck) await (await precheck())(valid, opts);
  const job = await SOURCE_JOBS[valid.source.kind as SourceKind]();
  return job(valid, opts);
}
