import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { nearestNames, UserError } from '../errors.js';
import { packageRoot } from '../paths.js';

export interface ConvLayer {
  name: string;
  type: 'conv';
  input: string;
  filters: number;
  kernel: number;
  stride: number;
  pad: number;
  relu: boolean;
  /** Blob prefix: files are `weights/<weights>_filter.bin` and `_bias.bin`. */
  weights: string;
  channels: number;
}
export interface MaxPoolLayer {
  name: string;
  type: 'maxpool';
  input: string;
  kernel: number;
  stride: number;
  padding: 'same' | 'valid';
  channels: number;
}
export interface GlobalAvgPoolLayer {
  name: string;
  type: 'globalavgpool';
  input: string;
  channels: number;
}
export interface LrnLayer {
  name: string;
  type: 'lrn';
  input: string;
  size: number;
  alpha: number;
  beta: number;
  channels: number;
}
export interface ConcatLayer {
  name: string;
  type: 'concat';
  inputs: string[];
  channels: number;
}
export interface FcLayer {
  name: string;
  type: 'fc';
  input: string;
  outputs: number;
  weights: string;
  channels: number;
}
export interface SoftmaxLayer {
  name: string;
  type: 'softmax';
  input: string;
  channels: number;
}
export type LayerSpec = ConvLayer | MaxPoolLayer | GlobalAvgPoolLayer | LrnLayer | ConcatLayer | FcLayer | SoftmaxLayer;

export interface WeightFile {
  /** Relative to the model's folder, e.g. `weights/conv1/7x7_s2_filter.bin`. */
  path: string;
  sha256: string;
  bytes: number;
}

/** A model manifest: everything but the weights, committed under the top-level models/. */
export interface ModelManifest {
  name: string;
  title: string;
  licence: string;
  /** Base URL of the published models: files are at `<source><name>/<file path>`. */
  source: string;
  input: { size: number; channelOrder: 'BGR' | 'RGB'; mean: [number, number, number] };
  /** Class names file under models/, one per line in output order. */
  labels: string;
  defaultLayer: string;
  /** Layers worth comparing side by side (dreamflow layers --gallery). */
  galleryLayers: string[];
  files: WeightFile[];
  layers: LayerSpec[];
}

export const DEFAULT_MODEL = 'bvlc_googlenet';

/** Short names users type, mapped to manifest names. */
const MODEL_ALIASES: Record<string, string> = {
  googlenet: 'bvlc_googlenet',
  inception: 'bvlc_googlenet',
  'inception-v1': 'bvlc_googlenet',
  squeezenet1_1: 'squeezenet',
  'squeezenet-v1.1': 'squeezenet',
};

export function modelsDir(): string {
  return join(packageRoot(), 'models');
}

export function availableModels(): string[] {
  return readdirSync(modelsDir())
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

const cache = new Map<string, ModelManifest>();

export function loadManifest(name: string = DEFAULT_MODEL): ModelManifest {
  const resolved = MODEL_ALIASES[name] ?? name;
  const hit = cache.get(resolved);
  if (hit) return hit;
  const path = join(modelsDir(), `${resolved}.json`);
  if (!/^[\w.-]+$/.test(resolved) || !existsSync(path)) {
    const known = [...availableModels(), ...Object.keys(MODEL_ALIASES)];
    throw new UserError(`unknown model "${name}"; did you mean ${nearestNames(name, known).join(', ')}?`);
  }
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as ModelManifest;
  cache.set(resolved, manifest);
  return manifest;
}

/** Does model `name` have a layer of that name (e.g. `inception_3b/output`)? */
export function modelHasLayer(name: string, layerName: string): boolean {
  return loadManifest(name).layers.some((l) => l.name === layerName);
}

export function loadLabels(manifest: ModelManifest): string[] {
  return readFileSync(join(modelsDir(), manifest.labels), 'utf8').split('\n').filter((l) => l.length > 0);
}
