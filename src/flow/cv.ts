/**
 * Loading OpenCV.js (@techstark/opencv-js, a single-file wasm build) once, lazily, with a small
 * typed view of the few functions used here, and bookkeeping so no cv.Mat outlives its call.
 *
 * Three quirks of that build, handled below:
 * - its CommonJS export is the Emscripten Module, which is ready only after
 *   `onRuntimeInitialized` (the import itself returns at once);
 * - the Module has a `then` that resolves with itself, so awaiting it (or resolving a promise
 *   with it) loops forever: we resolve with a wrapper object instead;
 * - on load it adds process 'uncaughtException' and 'unhandledRejection' listeners (the latter
 *   aborts the wasm runtime on ANY unhandled rejection in the program): we remove them.
 */

import { createRequire } from 'node:module';

/** The parts of cv.Mat used here. Mats live in the wasm heap: call delete(). */
export interface CvMat {
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint8Array;
  readonly data32F: Float32Array;
  delete(): void;
  isDeleted(): boolean;
}

export interface CvSize {
  width: number;
  height: number;
}

export interface Cv {
  Mat: {
    new (): CvMat;
    new (rows: number, cols: number, type: number): CvMat;
  };
  Size: new (width: number, height: number) => CvSize;
  CV_8UC1: number;
  CV_32FC2: number;
  INTER_AREA: number;
  INTER_LINEAR: number;
  OPTFLOW_FARNEBACK_GAUSSIAN: number;
  resize(src: CvMat, dst: CvMat, dsize: CvSize, fx: number, fy: number, interpolation: number): void;
  calcOpticalFlowFarneback(
    prev: CvMat,
    next: CvMat,
    flow: CvMat,
    pyrScale: number,
    levels: number,
    winsize: number,
    iterations: number,
    polyN: number,
    polySigma: number,
    flags: number,
  ): void;
  /** The wasm heap; its length grows when OpenCV needs more memory and never shrinks. */
  HEAPU8: Uint8Array;
}

let loading: Promise<{ cv: Cv }> | undefined;
let loadMillis = 0;

/** The OpenCV.js module, loaded on first use (≈0.2–0.5 s), then cached. */
export async function loadOpenCv(): Promise<Cv> {
  if (!loading) {
    loading = load();
    loading.catch(() => {
      loading = undefined;
    });
  }
  return (await loading).cv;
}

/** Milliseconds the first load took (0 before loading). */
export function openCvLoadMillis(): number {
  return loadMillis;
}

async function load(): Promise<{ cv: Cv }> {
  const t0 = performance.now();
  const before = {
    uncaught: new Set(process.listeners('uncaughtException')),
    rejection: new Set(process.listeners('unhandledRejection')),
  };
  let mod: unknown;
  try {
    // require, not import(): the module's exports carry Emscripten's self-resolving `then`, and
    // module loaders that await a dynamic import's result (vitest's does) then spin forever.
    mod = createRequire(import.meta.url)('@techstark/opencv-js');
  } finally {
    for (const l of process.listeners('uncaughtException')) {
      if (!before.uncaught.has(l)) process.removeListener('uncaughtException', l);
    }
    for (const l of process.listeners('unhandledRejection')) {
      if (!before.rejection.has(l)) process.removeListener('unhandledRejection', l);
    }
  }
  const holder = mod as { default?: unknown };
  const cv = (holder.default ?? mod) as Cv & { onRuntimeInitialized?: () => void; calledRun?: boolean };
  // The runtime initialises asynchronously after the import; its onRuntimeInitialized hook may
  // already have been consumed by then, so wait for the API to appear instead (≈0.1 s here).
  const deadline = performance.now() + 30_000;
  while (typeof cv.Mat !== 'function') {
    if (performance.now() > deadline) throw new Error('@techstark/opencv-js did not initialise within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (typeof cv.calcOpticalFlowFarneback !== 'function') {
    throw new Error('@techstark/opencv-js loaded without calcOpticalFlowFarneback');
  }
  // Emscripten's Module.then resolves with the Module itself: any promise resolved with it (an
  // async function returning it, say) re-resolves forever at 100 % CPU. Nothing needs it after
  // initialisation, so remove it.
  Reflect.deleteProperty(cv, 'then');
  loadMillis = performance.now() - t0;
  return { cv };
}

let liveMats = 0;

/** Mats created through a MatScope and not yet deleted (0 between calls when nothing leaks). */
export function liveMatCount(): number {
  return liveMats;
}

/**
 * Collects the Mats made during one computation so a single `finally { scope.free() }` deletes
 * them all, even when OpenCV throws half-way. The wasm heap is not garbage collected: a leaked
 * Mat per frame grows memory without bound over a long video.
 */
export class MatScope {
  private readonly mats: CvMat[] = [];
  constructor(private readonly cv: Cv) {}

  /** An empty Mat, or rows × cols of `type`. */
  mat(rows?: number, cols?: number, type?: number): CvMat {
    const m = rows === undefined ? new this.cv.Mat() : new this.cv.Mat(rows, cols ?? 0, type ?? this.cv.CV_8UC1);
    this.mats.push(m);
    liveMats++;
    return m;
  }

  free(): void {
    for (const m of this.mats) {
      if (!m.isDeleted()) m.delete();
      liveMats--;
    }
    this.mats.length = 0;
  }
}
