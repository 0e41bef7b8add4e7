import { backendNamed, type BackendName, type EngineKind } from '../engine/backend.js';
import type { GradientMode } from '../engine/conv.js';
import type { OnnxDevice } from '../engine/onnx/runtime.js';
import { UserError } from '../errors.js';
import { loadManifest, type ModelManifest } from '../models/manifest.js';
import type { TileGradient, TileJob } from './gradient.js';
import type { RgbImage } from './image.js';
import type { Objective } from './objectives.js';
import { OnnxNetwork } from './onnxGradient.js';
import { TfjsEngine } from './tfjsEngine.js';

/**
 * One loaded network answering tile requests, whatever runs it: tfjs (wasm, cpu, tensorflow) in
 * this thread, or ONNX Runtime. Runners hold one in the main thread or one per worker thread.
 * `key` identifies the objective (equal keys, equal objectives) so an engine can cache what it
 * built for it; see docs/architecture.md, "Engines".
 */
export interface TileEngine {
  gradient(job: TileJob, objective: Objective, key: string): Promise<TileGradient>;
  value(job: TileJob, objective: Objective, key: string): Promise<number>;
  features(image: RgbImage, layer: string): Promise<{ features: Float32Array; channels: number }>;
  /** Drop what is kept for the objective named `key`. */
  forget(key: string): Promise<void>;
  /** Objectives and built graphs held (tfjs builds none). */
  held(): Promise<{ objectives: number; graphs: number }>;
  close(): Promise<void>;
}

export interface EngineOptions {
  model: string;
  /** Folder of the model's weights. */
  dir: string;
  backend: BackendName;
  /** tfjs only: how gradients flow through convolutions. */
  gradientMode: GradientMode;
  /** onnx only: execution provider. */
  device: OnnxDevice;
  /** onnx only: ONNX Runtime's intra-op threads. */
  threads: number;
}

/**
 * Which module runs each kind of engine (engine/backend.ts's `BACKENDS` says which kind a
 * backend is): one line each. docs/architecture.md, "Where to add things".
 */
const TILE_ENGINES: { [K in EngineKind]: (manifest: ModelManifest, opts: EngineOptions) => Promise<TileEngine> } = {
  onnx: (manifest, opts) => OnnxNetwork.open(manifest, opts),
  tfjs: (manifest, opts) => TfjsEngine.open(manifest, opts),
};

/** Load the model onto the chosen backend in the calling thread. */
export async function loadEngine(opts: EngineOptions): Promise<TileEngine> {
  const backend = backendNamed(opts.backend);
  if (!backend) throw new UserError(`unknown backend "${opts.backend}"`);
  return TILE_ENGINES[backend.engine](loadManifest(opts.model), opts);
}
