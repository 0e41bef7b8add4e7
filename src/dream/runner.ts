import { availableParallelism } from 'node:os';
import { initBackend, type BackendName, type BackendRequest } from '../engine/backend.js';
import type { GradientMode } from '../engine/conv.js';
import { WorkerPool, WorkerTaskError } from '../engine/workerPool.js';
import { UserError } from '../errors.js';
import { loadManifest, type ModelManifest } from '../models/manifest.js';
import { Network } from '../models/network.js';
import { locateWeights, progressPrinter } from '../models/weights.js';
import { compiledPath } from '../paths.js';
import { layerFeatures, tileGradient, tileValue, type TileGradient, type TileJob } from './gradient.js';
import type { RgbImage } from './image.js';
import type { Objective } from './objectives.js';

/**
 * Where the network runs: in this thread, or in a pool of worker threads (one wasm instance per
 * core). The dream loop only ever talks to this interface.
 */
export interface GradientRunner {
  readonly backend: BackendName;
  readonly manifest: ModelManifest;
  /** How many tiles can be worked on at once. */
  readonly parallelism: number;
  gradients(jobs: TileJob[], objective: Objective): Promise<TileGradient[]>;
  values(jobs: TileJob[], objective: Objective): Promise<number[]>;
  features(image: RgbImage, layer: string): Promise<{ features: Float32Array; channels: number }>;
  /** Canonical layer name (`inception_4c` → `inception_4c/output`); throws UserError if unknown. */
  layerName(name: string): string;
  close(): Promise<void>;
}

export interface RunnerOptions {
  model?: string | undefined;
  backend?: BackendRequest | undefined;
  weightsDir?: string | undefined;
  /** Worker threads; 0 runs in this thread. Default: one per core on wasm/cpu, 0 on tensorflow. */
  workers?: number | undefined;
  gradientMode?: GradientMode | undefined;
  /** Print download progress if the weights must be fetched. */
  quiet?: boolean | undefined;
}

class LocalRunner implements GradientRunner {
  readonly parallelism = 1;
  constructor(
    readonly backend: BackendName,
    readonly manifest: ModelManifest,
    private readonly net: Network,
  ) {}

  layerName(name: string): string {
    return this.net.layerName(name);
  }

  async gradients(jobs: TileJob[], objective: Objective): Promise<TileGradient[]> {
    return jobs.map((j) => tileGradient(this.net, j, objective));
  }

  async values(jobs: TileJob[], objective: Objective): Promise<number[]> {
    return jobs.map((j) => tileValue(this.net, j, objective));
  }

  async features(image: RgbImage, layer: string): Promise<{ features: Float32Array; channels: number }> {
    return layerFeatures(this.net, image, layer);
  }

  async close(): Promise<void> {
    this.net.dispose();
  }
}

class PooledRunner implements GradientRunner {
  private readonly keys = new WeakMap<Objective, number>();
  private nextKey = 1;

  constructor(
    readonly backend: BackendName,
    readonly manifest: ModelManifest,
    private readonly pool: WorkerPool,
  ) {}

  get parallelism(): number {
    return this.pool.size;
  }

  layerName(name: string): string {
    // Resolution is pure manifest work: no need to ask a worker.
    return Network.resolveName(this.manifest, name);
  }

  /** Objectives cross to the workers once (guide features can be large), then go by key. */
  private async keyOf(objective: Objective): Promise<number> {
    let key = this.keys.get(objective);
    if (key === undefined) {
      key = this.nextKey++;
      this.keys.set(objective, key);
      await this.call(() => this.pool.broadcast({ op: 'objective', key, objective }));
    }
    return key;
  }

  private async call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof WorkerTaskError && err.userError) throw new UserError(err.message);
      throw err;
    }
  }

  async gradients(jobs: TileJob[], objective: Objective): Promise<TileGradient[]> {
    const key = await this.keyOf(objective);
    return this.call(() => Promise.all(jobs.map((j) => this.pool.run<TileGradient>({ op: 'gradient', key, job: j }))));
  }

  async values(jobs: TileJob[], objective: Objective): Promise<number[]> {
    const key = await this.keyOf(objective);
    return this.call(() => Promise.all(jobs.map((j) => this.pool.run<number>({ op: 'value', key, job: j }))));
  }

  features(image: RgbImage, layer: string): Promise<{ features: Float32Array; channels: number }> {
    return this.call(() => this.pool.run({ op: 'features', image, layer }));
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function defaultWorkers(backend: BackendName): number {
  // One GPU context per process is what tfjs-node-gpu wants; wasm and cpu are single-threaded.
  if (backend === 'tensorflow') return 0;
  const cores = availableParallelism();
  return cores > 1 ? cores : 0;
}

/** Load a model (finding or downloading its weights) and start where it runs. */
export async function createRunner(opts: RunnerOptions = {}): Promise<GradientRunner> {
  const manifest = loadManifest(opts.model);
  const backend = await initBackend(opts.backend ?? 'auto');
  const dir = await locateWeights(manifest, {
    weightsDir: opts.weightsDir,
    onProgress: opts.quiet ? undefined : progressPrinter(`downloading ${manifest.name}`),
  });
  const workers = opts.workers ?? defaultWorkers(backend);
  // The custom gradient pays off where forward convolution is fast (wasm: 3x, see bench); the
  // pure-JS cpu backend's fused convolution is slower than its own plain ops.
  const gradientMode = opts.gradientMode ?? (backend === 'cpu' ? 'autodiff' : 'custom');
  if (workers <= 0) {
    return new LocalRunner(backend, manifest, await Network.load(manifest, dir, gradientMode));
  }
  const pool = new WorkerPool(compiledPath('src/dream/gradientWorker.ts'), workers);
  try {
    await pool.broadcast({ op: 'init', model: manifest.name, dir, backend, gradientMode });
  } catch (err) {
    await pool.close();
    throw err;
  }
  return new PooledRunner(backend, manifest, pool);
}
