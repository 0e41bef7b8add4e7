import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { UserError } from '../../errors.js';
import { GraphBuilder } from './graph.js';

/**
 * ONNX Runtime through onnxruntime-node: loading it (it may be absent or broken, then dreamflow
 * falls back to tfjs on wasm), execution providers, and a small cache of sessions, one per graph
 * (graphs have static shapes, so one per tile size and objective).
 */

/** Where ONNX Runtime runs the graphs: `--device`. */
export type OnnxDevice = 'cpu' | 'cuda' | 'webgpu';
export const ONNX_DEVICES: readonly OnnxDevice[] = ['cpu', 'cuda', 'webgpu'];

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;

const require = createRequire(import.meta.url);
let loaded: Ort | null | undefined;

/**
 * ONNX Runtime 1.30's Linux build starts Microsoft's 1DS telemetry with the first session: it
 * writes `mat-debug-PID.log` and `.ses` into the temp folder (left behind by every run), keeps a
 * device id and an event database under ~/.cache/Microsoft, and would upload the events over
 * HTTPS, while dreamflow talks to no one. ORT reads ORT_DISABLE_TELEMETRY
 * from the process environment when it sets telemetry up, so this must run on the main thread
 * (a worker thread's process.env is its own copy) before any session exists; an explicit value
 * the user set is kept. docs/architecture.md, "Engines".
 */
export function disableOrtTelemetry(): void {
  if (process.env.ORT_DISABLE_TELEMETRY === undefined) process.env.ORT_DISABLE_TELEMETRY = '1';
}

/** The onnxruntime-node module, or null when it is not installed or its native library will not load. */
export function loadOrt(): Ort | null {
  if (loaded !== undefined) return loaded;
  disableOrtTelemetry();
  try {
    loaded = require('onnxruntime-node') as Ort;
    // Touch the native binding now: a missing or foreign libonnxruntime fails here, not mid-dream.
    loaded.listSupportedBackends();
    // Failures reach the user as one line from us; ONNX Runtime's own log would add a screenful.
    loaded.env.logLevel = 'fatal';
  } catch {
    loaded = null;
  }
  return loaded;
}

/** What the user must do to get a provider, for the one-line error when it is missing. */
const PROVIDER_HELP: Record<OnnxDevice, string> = {
  cpu: 'reinstall dependencies (npm ci)',
  cuda:
    'fetch ONNX Runtime\'s CUDA 12 provider (needs internet): ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install, with CUDA 12 and cuDNN 9 installed; or use the GPU Docker image',
  webgpu: 'it needs a GPU adapter that Dawn can open (Vulkan on Linux); none was found',
};

/** The options of every session dreamflow creates (placement reports use the same). */
export function sessionOptions(device: OnnxDevice, threads: number): import('onnxruntime-node').InferenceSession.SessionOptions {
  return {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // Each cached session would otherwise keep an arena at its own peak (activations of a
    // forward and backward pass): measured 4.7 GB against 1.2 GB for a 1920x960 panorama's
    // tiles, with no loss of speed (bench/results/vr.json has the 3840x1920 figures).
    enableCpuMemArena: false,
    enableMemPattern: false,
  };
}

export interface SessionCacheOptions {
  device: OnnxDevice;
  /** Intra-op threads of each session (ONNX Runtime's own pool). */
  threads: number;
  /** Sessions kept; the least recently used beyond this is released. */
  capacity?: number | undefined;
}

export interface Feed {
  data: Float32Array;
  dims: readonly number[];
}

/**
 * Sessions by key, built on first use from a graph the caller makes. Building a GoogLeNet
 * session takes a fraction of a second and a video repeats the same few tile sizes, so a small
 * LRU keeps every shape of a run warm while bounding memory when sizes change (live resolution
 * changes, farm segments with new objectives).
 */
export class SessionCache {
  private readonly sessions = new Map<string, Promise<Session>>();
  private readonly capacity: number;

  constructor(
    private readonly ort: Ort,
    private readonly opts: SessionCacheOptions,
  ) {
    this.capacity = opts.capacity ?? 24;
  }

  get size(): number {
    return this.sessions.size;
  }

  private session(key: string, build: () => Uint8Array): Promise<Session> {
    const hit = this.sessions.get(key);
    if (hit) {
      // Refresh its place in the LRU order.
      this.sessions.delete(key);
      this.sessions.set(key, hit);
      return hit;
    }
    const created = this.create(build());
    this.sessions.set(key, created);
    created.catch(() => this.sessions.delete(key));
    while (this.sessions.size > this.capacity) {
      const [oldest, s] = this.sessions.entries().next().value as [string, Promise<Session>];
      this.sessions.delete(oldest);
      void s.then((x) => x.release()).catch(() => undefined);
    }
    return created;
  }

  private async create(model: Uint8Array): Promise<Session> {
    const { device, threads } = this.opts;
    try {
      return await this.ort.InferenceSession.create(model, sessionOptions(device, threads));
    } catch (err) {
      if (device !== 'cpu') {
        throw new UserError(`--device ${device} is not available: ${PROVIDER_HELP[device]} (${firstLine(err)})`);
      }
      throw err;
    }
  }

  /** Run the graph under `key` (built by `build` the first time) and return its float outputs. */
  async run(key: string, build: () => Uint8Array, feeds: Record<string, Feed>): Promise<Record<string, Float32Array>> {
    const session = await this.session(key, build);
    const inputs: Record<string, import('onnxruntime-node').Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) inputs[name] = new this.ort.Tensor('float32', f.data, f.dims);
    const results = await session.run(inputs);
    const out: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(results)) {
      out[name] = t.data as Float32Array;
      t.dispose();
    }
    return out;
  }

  keys(): string[] {
    return [...this.sessions.keys()];
  }

  /** Release the sessions whose keys match. */
  async drop(matches: (key: string) => boolean): Promise<void> {
    const gone = [...this.sessions.entries()].filter(([k]) => matches(k));
    for (const [k] of gone) this.sessions.delete(k);
    await Promise.all(gone.map(([, s]) => s.then((x) => x.release()).catch(() => undefined)));
  }

  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.then((x) => x.release()).catch(() => undefined)));
  }
}

/** Dawn reaches GPUs through Vulkan on Linux: without its loader there is no adapter to find. */
function vulkanLoaderPresent(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [...(process.env['LD_LIBRARY_PATH'] ?? '').split(':'), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'];
  return dirs.some((d) => d !== '' && existsSync(`${d}/libvulkan.so.1`));
}

/**
 * Fail at start, with one line, when `device` cannot run graphs here: a tiny session on it. CPU
 * always can; the GPU providers need libraries and an adapter this machine may lack.
 */
export async function probeDevice(ort: Ort, device: OnnxDevice): Promise<void> {
  if (device === 'cpu') return;
  if (device === 'webgpu' && !vulkanLoaderPresent()) {
    throw new UserError(`--device webgpu is not available: ${PROVIDER_HELP.webgpu} (no Vulkan loader, libvulkan.so.1)`);
  }
  const g = new GraphBuilder('probe');
  g.output('y', g.op('Relu', [g.input('x', [1, 4])]), [1, 4]);
  const cache = new SessionCache(ort, { device, threads: 1, capacity: 1 });
  try {
    await cache.run('probe', () => g.bytes(), { x: { data: new Float32Array(4), dims: [1, 4] } });
  } finally {
    await cache.close();
  }
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0]!.slice(0, 200);
}
