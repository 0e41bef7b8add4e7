import type { BackendName } from '../engine/backend.js';
import { initBackend } from '../engine/backend.js';
import type { GradientMode } from '../engine/conv.js';
import { loadOrt, type OnnxDevice } from '../engine/onnx/runtime.js';
import { UserError } from '../errors.js';
import { loadManifest } from '../models/manifest.js';
import { Network } from '../models/network.js';
import { layerFeatures, tileGradient, tileValue, type TileGradient, type TileJob } from './gradient.js';
import type { RgbImage } from './image.js';
import type { Objective } from './objectives.js';
import { OnnxNetwork } from './onnxGradient.js';

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

class TfjsEngine implements TileEngine {
  constructor(private readonly net: Network) {}
  async gradient(job: TileJob, objective: Objective): Promise<TileGradient> {
    return tileGradient(this.net, job, objective);
  }
  async value(job: TileJob, objective: Objective): Promise<number> {
    return tileValue(this.net, job, objective);
  }
  async features(image: RgbImage, layer: string): Promise<{ features: Float32Array; channels: number }> {
    return layerFeatures(this.net, image, layer);
  }
  async forget(): Promise<void> {}
  async held(): Promise<{ objectives: number; graphs: number }> {
    return { objectives: 0, graphs: 0 };
  }
  async close(): Promise<void> {
    this.net.dispose();
  }
}

/** Load the model onto the chosen backend in the calling thread. */
export async function loadEngine(opts: EngineOptions): Promise<TileEngine> {
  const manifest = loadManifest(opts.model);
  if (opts.backend === 'onnx') {
    const ort = loadOrt();
    if (!ort) throw new UserError('backend "onnx" needs onnxruntime-node, which did not load; reinstall with npm ci, or use --backend wasm');
    return OnnxNetwork.load(ort, manifest, opts.dir, { device: opts.device, threads: opts.threads });
  }
  await initBackend(opts.backend);
  return new TfjsEngine(await Network.load(manifest, opts.dir, opts.gradientMode));
}
