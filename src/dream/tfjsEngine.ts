import { initBackend, type BackendName } from '../engine/backend.js';
import type { GradientMode } from '../engine/conv.js';
import type { ModelManifest } from '../models/manifest.js';
import { Network } from '../models/network.js';
import { layerFeatures, tileGradient, tileValue, type TileGradient, type TileJob } from './gradient.js';
import type { RgbImage } from './image.js';
import type { Objective } from './objectives.js';

/**
 * The network on tfjs (wasm, cpu, tensorflow) in the calling thread, behind the TileEngine seam
 * (tileEngine.ts): the gradient by tfjs's autodiff of the objective (gradient.ts).
 */
export class TfjsEngine {
  private constructor(private readonly net: Network) {}

  /** Activate `backend` in this thread and load the network onto it. */
  static async open(manifest: ModelManifest, opts: { backend: BackendName; dir: string; gradientMode: GradientMode }): Promise<TfjsEngine> {
    await initBackend(opts.backend);
    return new TfjsEngine(await Network.load(manifest, opts.dir, opts.gradientMode));
  }

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
