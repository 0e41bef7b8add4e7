import { availableParallelism } from 'node:os';
import { backendNamed, initBackend, type BackendName, type BackendRequest } from '../engine/backend.js';
import type { GradientMode } from '../engine/conv.js';
import { deviceMemoryBytes } from '../engine/onnx/deviceMemory.js';
import { disableOrtTelemetry, type OnnxDevice } from '../engine/onnx/runtime.js';
import { WorkerPool, WorkerTaskError } from '../engine/workerPool.js';
import { Stopped, UserError } from '../errors.js';
import { loadManifest, type ModelManifest } from '../models/manifest.js';
import { Network } from '../models/network.js';
import { locateWeights, progressPrinter } from '../models/weights.js';
import { compiledPath } from '../paths.js';
import type { TileGradient, TileJob } from './gradient.js';
import type { RgbImage } from './image.js';
import type { Objective } from './objectives.js';
import { deviceTileSide } from './modelCost.js';
import { loadEngine, type EngineOptions, type TileEngine } from './tileEngine.js';

/**
 * Where the network runs: in this thread, or in a pool of worker threads. The dream loop only
 * ever talks to this interface.
 */
export interface GradientRunner {
  readonly backend: BackendName;
  /** Execution provider of the onnx backend (`cpu` for the tfjs backends). */
  readonly device: OnnxDevice;
  readonly manifest: ModelManifest;
  /** How many tiles can be worked on at once. */
  readonly parallelism: number;
  /**
   * On a GPU device, the tile side its memory takes whole: used in place of the default --tile
   * (deepdream.ts), so frames go to the device in one piece. Undefined on the CPU.
   */
  readonly deviceTile?: number | undefined;
  gradients(jobs: TileJob[], objective: Objective): Promise<TileGradient[]>;
  values(jobs: TileJob[], objective: Objective): Promise<number[]>;
  features(image: RgbImage, layer: string): Promise<{ features: Float32Array; channels: number }>;
  /** Canonical layer name (`inception_4c` → `inception_4c/output`); throws UserError if unknown. */
  layerName(name: string): string;
  /**
   * The objective will not be used again: engines drop what they keep for it (guide features,
   * ONNX sessions). Objectives that are garbage collected are released too, later.
   */
  release(objective: Objective): Promise<void>;
  /** What the engines hold now (objectives and cached graphs, summed over workers), for tests and /stats. */
  held(): Promise<{ objectives: number; graphs: number }>;
  close(): Promise<void>;
}

export interface RunnerOptions {
  model?: string | undefined;
  backend?: BackendRequest | undefined;
  /** Execution provider for the onnx backend (default cpu). */
  device?: OnnxDevice | undefined;
  weightsDir?: string | undefined;
  /**
   * Worker threads; 0 runs in this thread. Default: one per core on wasm/cpu (each is
   * single-threaded), one on onnx (ONNX Runtime threads itself), 0 on tensorflow.
   */
  workers?: number | undefined;
  /** ONNX Runtime intra-op threads per worker. Default: the cores divided among the workers. */
  threads?: number | undefined;
  gradientMode?: GradientMode | undefined;
  /** Print download progress if the weights must be fetched. */
  quiet?: boolean | undefined;
}

/**
 * Objectives are named by a key when they cross to an engine, so engines can cache per objective.
 * A key whose objective is garbage collected is passed to `onCollected`, so engines can drop it.
 */
class ObjectiveKeys {
  private readonly keys = new WeakMap<Objective, number>();
  private readonly registry: FinalizationRegistry<number>;
  private next = 1;
  constructor(onCollected: (key: number) => void) {
    this.registry = new FinalizationRegistry(onCollected);
  }
  /** The key and whether it is new. */
  of(objective: Objective): { key: number; fresh: boolean } {
    const hit = this.keys.get(objective);
    if (hit !== undefined) return { key: hit, fresh: false };
    const key = this.next++;
    this.keys.set(objective, key);
    this.registry.register(objective, key, objective);
    return { key, fresh: true };
  }
  /** Forget an objective now; its key, if it had one. */
  drop(objective: Objective): number | undefined {
    const key = this.keys.get(objective);
    if (key === undefined) return undefined;
    this.keys.delete(objective);
    this.registry.unregister(objective);
    return key;
  }
}

class LocalRunner implements GradientRunner {
  readonly parallelism = 1;
  private readonly keys = new ObjectiveKeys((key) => void this.engine.forget(String(key)));
  constructor(
    readonly backend: BackendName,
    readonly device: OnnxDevice,
    readonly manifest: ModelManifest,
    private readonly engine: TileEngine,
    readonly deviceTile?: number | undefined,
  ) {}

  layerName(name: string): string {
    return Network.resolveName(this.manifest, name);
  }

  async gradients(jobs: TileJob[], objective: Objective): Promise<TileGradient[]> {
    const key = String(this.keys.of(objective).key);
    const out: TileGradient[] = [];
    for (const j of jobs) out.push(await this.engine.gradient(j, objective, key));
    return out;
  }

  async values(jobs: TileJob[], objective: Objective): Promise<number[]> {
    const key = String(this.keys.of(objective).key);
    const out: number[] = [];
    for (const j of jobs) out.push(await this.engine.value(j, objective, key));
    return out;
  }

  features(image: RgbImage, layer: string): Promise<{ features: Float32Array; channels: number }> {
    return this.engine.features(image, layer);
  }

  async release(objective: Objective): Promise<void> {
    const key = this.keys.drop(objective);
    if (key !== undefined) await this.engine.forget(String(key));
  }

  async held(): Promise<{ objectives: number; graphs: number }> {
    return this.engine.held();
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}

class PooledRunner implements GradientRunner {
  private readonly keys = new ObjectiveKeys((key) => void this.pool.broadcast({ op: 'forget', key }).catch(() => undefined));

  constructor(
    readonly backend: BackendName,
    readonly device: OnnxDevice,
    readonly manifest: ModelManifest,
    private readonly pool: WorkerPool,
    readonly deviceTile?: number | undefined,
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
    const { key, fresh } = this.keys.of(objective);
    if (fresh) await this.call(() => this.pool.broadcast({ op: 'objective', key, objective }));
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

  async release(objective: Objective): Promise<void> {
    const key = this.keys.drop(objective);
    if (key !== undefined) await this.pool.broadcast({ op: 'forget', key });
  }

  async held(): Promise<{ objectives: number; graphs: number }> {
    const all = await this.pool.broadcast<{ objectives: number; graphs: number }>({ op: 'held' });
    return all.reduce((a, b) => ({ objectives: a.objectives + b.objectives, graphs: a.graphs + b.graphs }), { objectives: 0, graphs: 0 });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Load a model (finding or downloading its weights) and start where it runs. */
export async function createRunner(opts: RunnerOptions = {}): Promise<GradientRunner> {
  const manifest = loadManifest(opts.model);
  const device = opts.device ?? 'cpu';
  // A device is its backends' (a GPU provider is ONNX Runtime's): auto goes there, others cannot.
  if (device !== 'cpu' && opts.backend !== undefined && opts.backend !== 'auto' && !backendNamed(opts.backend)?.devices.includes(device)) {
    throw new UserError(`--device ${device} is for the onnx backend; --backend ${opts.backend} picks its device itself`);
  }
  const backend = await initBackend(opts.backend ?? 'auto');
  const entry = backendNamed(backend)!;
  const dir = await locateWeights(manifest, {
    weightsDir: opts.weightsDir,
    onProgress: opts.quiet ? undefined : progressPrinter(`downloading ${manifest.name}`),
  });
  // Defaults by backend, and why, in engine/backend.ts (`BACKENDS`).
  const workers = opts.workers ?? entry.workers(availableParallelism());
  const engine: EngineOptions = {
    model: manifest.name,
    dir,
    backend,
    gradientMode: opts.gradientMode ?? entry.gradientMode,
    device: entry.devices.includes(device) ? device : 'cpu',
    threads: opts.threads ?? Math.max(1, Math.floor(availableParallelism() / Math.max(1, workers))),
  };
  // A GPU takes whole frames up to what its memory allows (one worker, the onnx default, feeds it).
  const memory = deviceMemoryBytes(engine.device);
  const deviceTile = memory === undefined ? undefined : deviceTileSide(manifest.name, memory);
  if (workers <= 0) return new LocalRunner(backend, engine.device, manifest, await loadEngine(engine), deviceTile);
  // Set on this (main) thread: the workers' ONNX Runtime reads the process environment.
  disableOrtTelemetry();
  const pool = new WorkerPool(compiledPath('src/dream/gradientWorker.ts'), workers);
  try {
    await pool.broadcast({ op: 'init', engine });
  } catch (err) {
    await pool.close();
    if (err instanceof WorkerTaskError && err.userError) throw new UserError(err.message);
    throw err;
  }
  return new PooledRunner(backend, engine.device, manifest, pool, deviceTile);
}

/**
 * `runner` for one job that `signal` stops: once it aborts, every further tile is refused with a
 * Stopped error, so a dream still running unwatched after the job gave up (a video frame's stage
 * raced against Ctrl-C) ends at its next step instead of going on for the whole frame
 * (docs/architecture.md, "Signals"). Closing is left to the runner's owner.
 */
export function stoppedBy(runner: GradientRunner, signal: AbortSignal | undefined): GradientRunner {
  if (!signal) return runner;
  const check = (): void => {
    if (signal.aborted) throw new Stopped();
  };
  return {
    get backend() {
      return runner.backend;
    },
    get device() {
      return runner.device;
    },
    get manifest() {
      return runner.manifest;
    },
    get parallelism() {
      return runner.parallelism;
    },
    gradients: async (jobs, objective) => {
      check();
      return runner.gradients(jobs, objective);
    },
    values: async (jobs, objective) => {
      check();
      return runner.values(jobs, objective);
    },
    features: (image, layer) => runner.features(image, layer),
    layerName: (name) => runner.layerName(name),
    release: (objective) => runner.release(objective),
    held: () => runner.held(),
    close: () => Promise.resolve(),
  };
}
