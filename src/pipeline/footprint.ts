/**
 * The memory check of every job, before it allocates anything big (dream/memory.ts has the
 * estimate): the working size of the picture or frame, found cheaply (an image file's header, a
 * video's probe), with the dream stage's tiles, octaves, workers, engine and model.
 */
import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { AUTO_ORDER, backendNamed } from '../engine/backend.js';
import { checkMemory, type DreamFootprint, type MemoryEstimate } from '../dream/memory.js';
import { parseSize, targetSize, type SizeSpec } from '../media/size.js';
import { dreamOf, dreamSettingsOf, type DreamSpec } from './dream.js';
import type { RunOptions } from './job.js';
import { DEFAULT_START_SIZE } from './recipe.js';
import { section as imageSource } from './sources/image.js';
import { parseLiveSize, section as liveSource } from './sources/live.js';
import type { PipelineSpec } from './spec/fields.js';
import { sourceSettings } from './spec/settings.js';

/**
 * The worker threads a runner will start for a dream stage: its backend's default
 * (engine/backend.ts, BACKENDS `workers`), auto counted as its first choice, which loads wherever
 * dreamflow installs.
 */
export function plannedWorkers(d: Pick<DreamSpec, 'backend' | 'workers'>): number {
  if (d.workers !== undefined) return d.workers;
  return (d.backend === 'auto' ? AUTO_ORDER[0]! : backendNamed(d.backend)!).workers(availableParallelism());
}

/** What decides the memory of dreaming `size` pictures or frames with the dream stage `d`. */
export function dreamFootprint(
  d: DreamSpec,
  size: { width: number; height: number },
  job: DreamFootprint['job'],
  extra: { wrapX?: boolean | undefined; concurrent?: number | undefined } = {},
): DreamFootprint {
  const s = dreamSettingsOf(d);
  return {
    width: size.width,
    height: size.height,
    octaves: s.octaves,
    octaveScale: s.octaveScale,
    tile: s.tile,
    workers: plannedWorkers(d),
    model: d.model,
    engine: d.backend === 'auto' || d.backend === 'onnx' ? 'onnx' : 'tfjs',
    // Class and neuron terms make the whole objective judge the whole picture (needsWholeImage).
    wholeImage: d.class !== undefined || d.neuron !== undefined,
    wrapX: extra.wrapX,
    job,
    concurrent: extra.concurrent,
    iterations: s.iterations,
  };
}

/** Refuse a dream the machine has no memory for (one line, exit code 2); see checkMemory. */
export function checkDreamMemory(
  d: DreamSpec,
  size: { width: number; height: number },
  job: DreamFootprint['job'],
  opts: { wrapX?: boolean; concurrent?: number; onWarning?: ((message: string) => void) | undefined } = {},
): MemoryEstimate {
  return checkMemory(dreamFootprint(d, size, job, opts), { onWarning: opts.onWarning });
}


/**
 * The size a picture will be dreamed at, from its header alone (no pixels decoded): an input file
 * at `size` (EXIF rotation applied), or a synthetic start of `size`. Undefined when the file cannot
 * be read: the job's own reading then says why, in its words.
 */
export async function pictureSize(start: { path?: string | undefined; from?: string | undefined; size?: string | undefined }): Promise<{ width: number; height: number } | undefined> {
  const spec: SizeSpec | undefined = start.size === undefined ? undefined : parseSize(start.size);
  if (start.path === undefined) {
    const s = spec ?? { fit: DEFAULT_START_SIZE };
    return 'fit' in s ? { width: s.fit, height: s.fit } : s;
  }
  try {
    const meta = await sharp(start.path).metadata();
    const rotated = (meta.orientation ?? 1) >= 5;
    const w = (rotated ? meta.height : meta.width) ?? 0;
    const h = (rotated ? meta.width : meta.height) ?? 0;
    if (w <= 0 || h <= 0) return undefined;
    return targetSize(w, h, spec);
  } catch {
    return undefined;
  }
}

/**
 * An image job's check (run.ts runs it before the engines load, so a far too large --size is
 * refused in well under a second): the picture's size from its header or --size.
 */
export async function checkPictureMemory(spec: PipelineSpec, opts: RunOptions): Promise<void> {
  const source = sourceSettings(spec, imageSource);
  const size = source && (await pictureSize(source));
  if (size) checkDreamMemory(dreamOf(spec), size, 'image', { onWarning: opts.onWarning });
}

/** A live job's check: it dreams at its --size (the adaptive controller only ever goes lower). */
export async function checkLiveMemory(spec: PipelineSpec, opts: RunOptions): Promise<void> {
  const size = parseLiveSize(sourceSettings(spec, liveSource)!.size);
  checkDreamMemory(dreamOf(spec), size, 'video', { onWarning: opts.onWarning });
}
