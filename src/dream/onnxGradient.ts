import { backendNamed } from '../engine/backend.js';
import { GraphBuilder } from '../engine/onnx/graph.js';
import { loadOrt, probeDevice, SessionCache, type OnnxDevice } from '../engine/onnx/runtime.js';
import { UserError } from '../errors.js';
import { readBlobs } from '../models/blobs.js';
import { resolveLayer } from '../models/catalog.js';
import type { ModelManifest } from '../models/manifest.js';
import { onnxWeights, writeNetwork, type GraphValue, type MaxPoolGradient, type OnnxWeights } from '../models/onnxNetwork.js';
import type { TileGradient, TileJob } from './gradient.js';
import type { RgbImage } from './image.js';
import { layersOf, type Objective } from './objectives.js';
import { termKindOf } from './terms/index.js';

type Ort = NonNullable<ReturnType<typeof import('../engine/onnx/runtime.js').loadOrt>>;

/**
 * The objective written into an ONNX graph: its value (a scalar) and, for the gradient, the seed
 * d objective / d activation of every layer it reads, from each term kind's `onnx` writer
 * (terms/), which sits beside its tfjs value, whose gradient tfjs takes by autodiff.
 */
function writeObjective(
  g: GraphBuilder,
  objective: Objective,
  acts: ReadonlyMap<string, GraphValue>,
  withSeeds: boolean,
): { value: string; seeds: Map<string, string> } {
  const terms: string[] = [];
  const seeds = new Map<string, string[]>();
  for (const t of objective.terms) {
    const act = acts.get(t.layer);
    if (!act) throw new Error(`objective needs layer ${t.layer}, which was not computed`);
    const seed = (grad: () => string): void => {
      if (!withSeeds) return;
      const list = seeds.get(t.layer) ?? [];
      list.push(grad());
      seeds.set(t.layer, list);
    };
    const value = termKindOf(t).onnx(g, t, act, seed);
    terms.push(g.mul(value, g.scalar(t.weight)));
  }
  const value = g.sum(terms);
  return { value, seeds: new Map([...seeds].map(([k, v]) => [k, g.sum(v)])) };
}

export type GraphKind = 'gradient' | 'value' | 'features';

/**
 * How a device's graphs take max pooling's gradient: MaxPool's `Indices` on the CPU provider
 * (1.4-1.5x faster there than the masks, measured at 640x360), equality masks on the GPU
 * providers (WebGPU has no `Indices`); docs/architecture.md, "Engines".
 */
export function maxPoolGradientFor(device: OnnxDevice): MaxPoolGradient {
  return device === 'cpu' ? 'indices' : 'masks';
}

/**
 * GoogLeNet or SqueezeNet on ONNX Runtime: graphs for a tile's objective gradient, its value, and
 * a layer's features, built per (objective, tile size) and cached as sessions.
 */
export class OnnxNetwork {
  private constructor(
    readonly manifest: ModelManifest,
    private readonly weights: OnnxWeights,
    private readonly sessions: SessionCache,
    private readonly maxPoolGradient: MaxPoolGradient,
  ) {}

  /**
   * `maxPoolGradient` defaults to `indices` on the CPU provider (measured faster there) and to
   * `masks` on the GPU providers (WebGPU has no MaxPool `Indices`); docs/architecture.md, "Engines".
   */
  static async load(
    ort: Ort,
    manifest: ModelManifest,
    dir: string,
    opts: { device: OnnxDevice; threads: number; maxPoolGradient?: MaxPoolGradient | undefined },
  ): Promise<OnnxNetwork> {
    await probeDevice(ort, opts.device);
    const weights = onnxWeights(manifest, await readBlobs(manifest, dir));
    const maxPoolGradient = opts.maxPoolGradient ?? maxPoolGradientFor(opts.device);
    return new OnnxNetwork(manifest, weights, new SessionCache(ort, opts), maxPoolGradient);
  }

  /** Load ONNX Runtime and the model's graphs' weights in this thread, for the TileEngine seam. */
  static async open(manifest: ModelManifest, opts: { dir: string; device: OnnxDevice; threads: number }): Promise<OnnxNetwork> {
    const ort = loadOrt();
    if (!ort) throw new UserError(backendNamed('onnx')!.missing);
    return OnnxNetwork.load(ort, manifest, opts.dir, { device: opts.device, threads: opts.threads });
  }

  /**
   * One graph as the engine runs it, with its nodes' op types (all in the default domain at
   * opset OPSET), for node-placement reports and the op-coverage test.
   */
  graph(
    kind: GraphKind,
    width: number,
    height: number,
    objective: Objective | undefined,
    layer?: string,
  ): { bytes: () => Uint8Array; opTypes: ReadonlyMap<string, number>; opOutputs: ReadonlyMap<string, number> } {
    const g = this.write(kind, width, height, objective, layer);
    return { bytes: () => g.bytes(), opTypes: g.opTypes, opOutputs: g.opOutputs };
  }

  private build(kind: GraphKind, width: number, height: number, objective: Objective | undefined, layer?: string): Uint8Array {
    return this.write(kind, width, height, objective, layer).bytes();
  }

  private write(kind: GraphKind, width: number, height: number, objective: Objective | undefined, layer?: string): GraphBuilder {
    const g = new GraphBuilder(`dreamflow-${kind}`);
    const image = { name: g.input('image', [1, height, width, 3]), shape: [1, height, width, 3] };
    const targets = objective ? layersOf(objective) : [layer!];
    const net = writeNetwork(g, this.manifest, this.weights, image, targets, kind === 'gradient', this.maxPoolGradient);
    if (kind === 'features') {
      // Positions × channels, row-major (NHWC); a vector layer (logits, probabilities) as it is.
      const act = net.activations.get(layer!)!;
      if (act.shape.length === 2) {
        g.output('features', act.name, act.shape);
      } else {
        const [, c, h, w] = act.shape as [number, number, number, number];
        g.output('features', g.op('Transpose', [act.name], { perm: [0, 2, 3, 1] }), [1, h, w, c]);
      }
      return g;
    }
    const { value, seeds } = writeObjective(g, objective!, net.activations, kind === 'gradient');
    g.output('value', value, []);
    if (kind === 'gradient') g.output('grad', net.backward(seeds), [1, height, width, 3]);
    return g;
  }

  private run(kind: GraphKind, key: string, image: RgbImage, objective: Objective | undefined, layer?: string): Promise<Record<string, Float32Array>> {
    const { width, height } = image;
    return this.sessions.run(`${kind}:${key}:${width}x${height}`, () => this.build(kind, width, height, objective, layer), {
      image: { data: image.data, dims: [1, height, width, 3] },
    });
  }

  /** `key` names the objective: equal keys must mean equal objectives. */
  async gradient(job: TileJob, objective: Objective, key: string): Promise<TileGradient> {
    const out = await this.run('gradient', key, job.image, objective);
    const grad = out.grad!;
    if (job.weight !== 1) for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! * job.weight;
    return { grad, value: out.value![0]! * job.weight };
  }

  async value(job: TileJob, objective: Objective, key: string): Promise<number> {
    const out = await this.run('value', key, job.image, objective);
    return out.value![0]! * job.weight;
  }

  async features(image: RgbImage, layer: string): Promise<{ features: Float32Array; channels: number }> {
    const out = await this.run('features', layer, image, undefined, layer);
    return { features: out.features!, channels: resolveLayer(this.manifest, layer).channels };
  }

  /** Release the sessions built for the objective named `key`. */
  async forget(key: string): Promise<void> {
    await this.sessions.drop((k) => k.split(':')[1] === key);
  }

  async held(): Promise<{ objectives: number; graphs: number }> {
    const keys = new Set(this.sessions.keys().filter((k) => !k.startsWith('features:')).map((k) => k.split(':')[1]));
    return { objectives: keys.size, graphs: this.sessions.size };
  }

  close(): Promise<void> {
    return this.sessions.close();
  }
}
