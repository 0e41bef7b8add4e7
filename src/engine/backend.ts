import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import type { GradientMode } from './conv.js';
import { loadOrt, ONNX_DEVICES, type OnnxDevice } from './onnx/runtime.js';

const require = createRequire(import.meta.url);

type Tfjs = typeof import('@tensorflow/tfjs-core');

/**
 * The tfjs union package (the gradients of every op), loaded when a tfjs backend is first
 * activated: the spec and --help read the table below without it. tfjs-core itself is loaded by
 * the objective terms (dream/terms/) on any path that dreams.
 */
async function tfjs(): Promise<Tfjs> {
  // tfjs-core's Node build ships no gradient functions; the union package's Node bundle registers
  // them all (its dist/*.js ES files cannot be imported by Node directly).
  await import('@tensorflow/tfjs');
  return import('@tensorflow/tfjs-core');
}

/**
 * tfjs-node(-gpu) are optional: they need libtensorflow downloaded at install time, which the
 * embedded default must not depend on. When one is installed, importing it registers the
 * 'tensorflow' backend (the GPU build first, since it is the faster of the two).
 */
async function loadTensorflowBackend(): Promise<boolean> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(pkg);
    } catch {
      continue;
    }
    try {
      await import(pkg);
      return (await tfjs()).findBackendFactory('tensorflow') !== null;
    } catch {
      // Installed but its native library is missing or broken: fall through to wasm.
    }
  }
  return false;
}

let wasmRegistered = false;
async function loadWasmBackend(): Promise<boolean> {
  try {
    if (!wasmRegistered) {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // In Node the .wasm files sit beside the package's entry file; point the loader at them.
      wasm.setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + '/');
      wasmRegistered = true;
    }
    return true;
  } catch {
    return false;
  }
}

async function loadCpuBackend(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-backend-cpu');
    return true;
  } catch {
    return false;
  }
}

async function activate(name: string): Promise<boolean> {
  // The Emscripten glue of the wasm backend installs process-wide 'uncaughtException' and
  // 'unhandledRejection' handlers that rethrow (printing a megabyte of minified source). Errors are
  // the CLI's business: remove whatever the backend added.
  const events: NodeJS.Signals[] = ['uncaughtException', 'unhandledRejection'] as unknown as NodeJS.Signals[];
  const before = events.map((e) => new Set<unknown>(process.listeners(e)));
  try {
    const tf = await tfjs();
    const ok = await tf.setBackend(name);
    if (ok) await tf.ready();
    return ok;
  } catch {
    return false;
  } finally {
    events.forEach((e, i) => {
      for (const l of process.listeners(e)) if (!before[i]!.has(l)) process.removeListener(e, l);
    });
  }
}

/** One `--backend` choice: everything the runner, the spec and `dreamflow devices` ask of it. */
export interface Backend {
  readonly name: string;
  /**
   * Which TileEngine runs its tiles: a key of `TILE_ENGINES` (dream/tileEngine.ts), which the
   * compiler holds to the kinds named here (`EngineKind`).
   */
  readonly engine: string;
  /** Where it may run (`--device`); `auto` landing on a backend without the device runs it on cpu. */
  readonly devices: readonly OnnxDevice[];
  /** Its place in `auto`'s order of preference (lowest first). */
  readonly autoRank: number;
  /** tfjs only: how gradients flow through convolutions unless told (engine/conv.ts). */
  readonly gradientMode: GradientMode;
  /** Worker threads unless told, given the machine's cores. */
  workers(cores: number): number;
  /** Make it ready in the calling thread; false when it cannot load here. `named`: asked for by name. */
  activate(named: boolean): Promise<boolean>;
  /** The one line when it was asked for by name and did not load. */
  readonly missing: string;
}

/** A tfjs backend: activated in the calling thread once its package is registered. */
function tfjsActivation(name: string, register: () => Promise<boolean>): (named: boolean) => Promise<boolean> {
  return async (named) => {
    const tf = await tfjs();
    // Production mode: no debug checks, and no console advice to install tfjs-node on every start.
    tf.env().set('PROD', true);
    if (named && tf.getBackend() === name) return true;
    return (await register()) && (await activate(name));
  };
}

/** An entry of `BACKENDS`, keeping its name and engine kind as literal types. */
function backend<N extends string, E extends string>(entry: Backend & { name: N; engine: E }): Backend & { name: N; engine: E } {
  return entry;
}

/** wasm and cpu are single-threaded: one worker per core. */
const workerPerCore = (cores: number): number => (cores > 1 ? cores : 0);

/**
 * Every backend, in the order `--backend` lists them: one entry each (docs/architecture.md,
 * "Where to add things"). `auto` tries them by `autoRank`: ONNX Runtime (the embedded default:
 * graphs built from the manifests, 3-6x faster than tfjs on wasm on the same CPU, see
 * bench/results), then tfjs-node(-gpu) when it loads, then tfjs on wasm (SIMD), then the pure-JS
 * cpu backend. Worker defaults: ONNX Runtime runs one tile on every core by itself (its intra-op
 * pool), so one worker keeps that off the main thread (measured faster than one single-threaded
 * worker per core: bench/results/engine.json); tfjs-node(-gpu) wants one GPU context per process,
 * so none. The custom convolution gradient pays off where forward convolution is fast (wasm: 3x,
 * see bench); the pure-JS cpu backend's fused convolution is slower than its own plain ops.
 */
export const BACKENDS = [
  backend({
    name: 'onnx',
    engine: 'onnx',
    devices: ONNX_DEVICES,
    autoRank: 0,
    gradientMode: 'custom',
    workers: () => 1,
    activate: async () => loadOrt() !== null,
    missing: 'backend "onnx" needs onnxruntime-node, which did not load (reinstall with npm ci); use --backend wasm otherwise',
  }),
  backend({
    name: 'wasm',
    engine: 'tfjs',
    devices: ['cpu'],
    autoRank: 2,
    gradientMode: 'custom',
    workers: workerPerCore,
    activate: tfjsActivation('wasm', loadWasmBackend),
    missing: 'the wasm backend failed to initialise; try --backend cpu',
  }),
  backend({
    name: 'cpu',
    engine: 'tfjs',
    devices: ['cpu'],
    autoRank: 3,
    gradientMode: 'autodiff',
    workers: workerPerCore,
    activate: tfjsActivation('cpu', loadCpuBackend),
    missing: 'no tensor backend could be initialised',
  }),
  backend({
    name: 'tensorflow',
    engine: 'tfjs',
    devices: ['cpu'],
    autoRank: 1,
    gradientMode: 'custom',
    workers: () => 0,
    activate: tfjsActivation('tensorflow', loadTensorflowBackend),
    missing:
      'backend "tensorflow" needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node installed (npm install @tensorflow/tfjs-node-gpu); use --backend wasm otherwise',
  }),
] as const;

/** The kinds of TileEngine the backends name: ONNX Runtime's graphs, tfjs's ops. */
export type EngineKind = (typeof BACKENDS)[number]['engine'];
/** What actually runs. */
export type BackendName = (typeof BACKENDS)[number]['name'];
/** What the user may ask for with `--backend`: `auto` or a backend's name. */
export type BackendRequest = 'auto' | BackendName;

export const BACKEND_REQUESTS: readonly BackendRequest[] = ['auto', ...BACKENDS.map((b) => b.name)];

/** The backends in the order `auto` tries them. */
export const AUTO_ORDER: ReadonlyArray<(typeof BACKENDS)[number]> = [...BACKENDS].sort((a, b) => a.autoRank - b.autoRank);

/** The backend called `name`; undefined for `auto` or an unknown name. */
export function backendNamed(name: string): (typeof BACKENDS)[number] | undefined {
  return BACKENDS.find((b) => b.name === name);
}

/** Every device some backend runs on, in order: what `dreamflow devices` surveys. */
export const ENGINE_DEVICES: readonly OnnxDevice[] = [...new Set(BACKENDS.flatMap((b) => b.devices))];

/**
 * Select and initialise the backend: the one asked for, or for `auto` the first by `autoRank`
 * that loads. ONNX Runtime needs no tfjs backend; the others activate theirs in the calling thread.
 */
export async function initBackend(request: BackendRequest = 'auto'): Promise<BackendName> {
  if (!BACKEND_REQUESTS.includes(request)) {
    throw new UserError(`unknown backend "${String(request)}": use one of ${BACKEND_REQUESTS.join(', ')}`);
  }
  const tried = AUTO_ORDER.filter((b) => request === 'auto' || b.name === request);
  for (const backend of tried) {
    if (await backend.activate(request !== 'auto')) return backend.name;
    if (request === backend.name) throw new UserError(backend.missing);
  }
  throw new UserError('no tensor backend could be initialised');
}
