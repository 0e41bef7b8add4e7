import { GraphBuilder } from '../engine/onnx/graph.js';
import { probeDevice, SessionCache, type OnnxDevice } from '../engine/onnx/runtime.js';
import { UserError } from '../errors.js';
import { readBlobs } from '../models/blobs.js';
import { resolveLayer } from '../models/catalog.js';
import type { ModelManifest } from '../models/manifest.js';
import { onnxWeights, writeNetwork, type GraphValue, type MaxPoolGradient, type OnnxWeights } from '../models/onnxNetwork.js';
import type { TileGradient, TileJob } from './gradient.js';
import type { RgbImage } from './image.js';
import { layersOf, type Objective, type ObjectiveTerm } from './objectives.js';

type Ort = NonNullable<ReturnType<typeof import('../engine/onnx/runtime.js').loadOrt>>;

/**
 * The objective written into an ONNX graph: its value (a scalar) and, for the gradient, the seed
 * d objective / d activation of every layer it reads. Same arithmetic as `evaluate` in
 * objectives.ts, whose gradient tfjs takes by autodiff.
 */
function writeObjective(
  g: GraphBuilder,
  objective: Objective,
  acts: ReadonlyMap<string, GraphValue>,
  withSeeds: boolean,
): { value: string; seeds: Map<string, string> } {
  const terms: string[] = [];
  const seeds = new Map<string, string[]>();
  const seed = (layer: string, grad: () => string): void => {
    if (!withSeeds) return;
    const list = seeds.get(layer) ?? [];
    list.push(grad());
    seeds.set(layer, list);
  };
  for (const t of objective.terms) {
    const act = acts.get(t.layer);
    if (!act) throw new Error(`objective needs layer ${t.layer}, which was not computed`);
    const value = termValue(g, t, act, seed);
    terms.push(g.mul(value, g.scalar(t.weight)));
  }
  const value = g.sum(terms);
  return { value, seeds: new Map([...seeds].map(([k, v]) => [k, g.sum(v)])) };
}

function checkChannel(t: { layer: string; channel: number }, channels: number): void {
  if (!Number.isInteger(t.channel) || t.channel < 0 || t.channel >= channels) {
    throw new UserError(`channel ${t.channel} is out of range for ${t.layer} (0-${channels - 1})`);
  }
}

/** A one-hot constant of the activation's shape with `scale` at flat index `at`. */
function oneHot(g: GraphBuilder, shape: readonly number[], at: number, scale: number): string {
  const mask = new Float32Array(shape.reduce((a, b) => a * b, 1));
  mask[at] = scale;
  return g.constant(mask, shape, 'seed');
}

function termValue(g: GraphBuilder, t: ObjectiveTerm, act: GraphValue, seed: (layer: string, grad: () => string) => void): string {
  const size = act.shape.reduce((a, b) => a * b, 1);
  switch (t.kind) {
    case 'layer': {
      // mean(a²); d/da = 2a/N
      seed(t.layer, () => g.mul(act.name, g.scalar((2 * t.weight) / size)));
      return g.op('ReduceMean', [g.mul(act.name, act.name)], { keepdims: 0 });
    }
    case 'channel': {
      const [, c, h, w] = act.shape as [number, number, number, number];
      checkChannel(t, c);
      seed(t.layer, () => {
        const mask = new Float32Array(size);
        mask.fill(t.weight / (h * w), t.channel * h * w, (t.channel + 1) * h * w);
        return g.constant(mask, act.shape, 'seed');
      });
      const slice = g.op('Slice', [act.name, g.ints([t.channel]), g.ints([t.channel + 1]), g.ints([1])]);
      return g.op('ReduceMean', [slice], { keepdims: 0 });
    }
    case 'neuron': {
      const [, c, h, w] = act.shape as [number, number, number, number];
      checkChannel(t, c);
      const row = Math.min(h - 1, Math.max(0, Math.floor(t.y * h)));
      const col = Math.min(w - 1, Math.max(0, Math.floor(t.x * w)));
      const at = (t.channel * h + row) * w + col;
      seed(t.layer, () => oneHot(g, act.shape, at, t.weight));
      return g.reshape(g.op('Gather', [g.reshape(act.name, [-1]), g.ints([at])], { axis: 0 }), []);
    }
    case 'class': {
      if (!Number.isInteger(t.index) || t.index < 0 || t.index >= size) throw new UserError(`class ${t.index} is out of range (0-${size - 1})`);
      seed(t.layer, () => oneHot(g, act.shape, t.index, t.weight));
      return g.reshape(g.op('Gather', [g.reshape(act.name, [-1]), g.ints([t.index])], { axis: 0 }), []);
    }
    case 'guide': {
      // For each position, the best dot product with any guide feature vector; its gradient is
      // that best-matching guide vector, averaged over positions.
      const [, c, h, w] = act.shape as [number, number, number, number];
      const positions = h * w;
      const m = t.features.length / t.channels;
      const x = g.op('Transpose', [g.reshape(act.name, [c, positions])], { perm: [1, 0] });
      const guideRows = g.constant(t.features, [m, c], 'guide');
      const scores = g.op('MatMul', [x, g.op('Transpose', [guideRows], { perm: [1, 0] })]);
      seed(t.layer, () => {
        const best = g.op('ArgMax', [scores], { axis: 1, keepdims: 0 });
        const chosen = g.mul(g.op('Gather', [guideRows, best], { axis: 0 }), g.scalar(t.weight / positions));
        return g.reshape(g.op('Transpose', [chosen], { perm: [1, 0] }), act.shape);
      });
      return g.op('ReduceMean', [g.op('ReduceMax', [scores, g.ints([1])], { keepdims: 0 })], { keepdims: 0 });
    }
  }
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
