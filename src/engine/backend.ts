import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node build ships no gradient functions; the union package's Node bundle registers
// them all (its dist/*.js ES files cannot be imported by Node directly).
import '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import { loadOrt } from './onnx/runtime.js';

/** What the user may ask for with `--backend`. */
export type BackendRequest = 'auto' | 'onnx' | 'wasm' | 'cpu' | 'tensorflow';
/** What actually runs. */
export type BackendName = 'onnx' | 'wasm' | 'cpu' | 'tensorflow';

export const BACKEND_REQUESTS: readonly BackendRequest[] = ['auto', 'onnx', 'wasm', 'cpu', 'tensorflow'];

const require = createRequire(import.meta.url);

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
      return tf.findBackendFactory('tensorflow') !== null;
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

async function activate(name: BackendName): Promise<boolean> {
  // The Emscripten glue of the wasm backend installs process-wide 'uncaughtException' and
  // 'unhandledRejection' handlers that rethrow (printing a megabyte of minified source). Errors are
  // the CLI's business: remove whatever the backend added.
  const events: NodeJS.Signals[] = ['uncaughtException', 'unhandledRejection'] as unknown as NodeJS.Signals[];
  const before = events.map((e) => new Set<unknown>(process.listeners(e)));
  try {
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

/**
 * Select and initialise the backend. `auto` prefers ONNX Runtime (the embedded default: graphs
 * built from the manifests, 3-6x faster than tfjs on wasm on the same CPU, see bench/results),
 * then tfjs-node(-gpu) when it loads, then tfjs on wasm (SIMD), then the pure-JS cpu backend.
 * ONNX Runtime needs no tfjs backend; the others activate theirs in the calling thread.
 */
export async function initBackend(request: BackendRequest = 'auto'): Promise<BackendName> {
  if (!BACKEND_REQUESTS.includes(request)) {
    throw new UserError(`unknown backend "${String(request)}": use one of ${BACKEND_REQUESTS.join(', ')}`);
  }
  if (request === 'onnx' || request === 'auto') {
    if (loadOrt()) return 'onnx';
    if (request === 'onnx') {
      throw new UserError('backend "onnx" needs onnxruntime-node, which did not load (reinstall with npm ci); use --backend wasm otherwise');
    }
  }
  // Production mode: no debug checks, and no console advice to install tfjs-node on every start.
  tf.env().set('PROD', true);
  const current = tf.getBackend() as BackendName | undefined;
  if (request !== 'auto' && current === request) return request;
  if (request === 'tensorflow' || request === 'auto') {
    if ((await loadTensorflowBackend()) && (await activate('tensorflow'))) return 'tensorflow';
    if (request === 'tensorflow') {
      throw new UserError(
        'backend "tensorflow" needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node installed (npm install @tensorflow/tfjs-node-gpu); use --backend wasm otherwise',
      );
    }
  }
  if (request === 'wasm' || request === 'auto') {
    if ((await loadWasmBackend()) && (await activate('wasm'))) return 'wasm';
    if (request === 'wasm') throw new UserError('the wasm backend failed to initialise; try --backend cpu');
  }
  if ((await loadCpuBackend()) && (await activate('cpu'))) return 'cpu';
  throw new UserError('no tensor backend could be initialised');
}
