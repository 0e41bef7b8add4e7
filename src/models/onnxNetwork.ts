import type { GraphBuilder } from '../engine/onnx/graph.js';
import { inputChannels, type LayerBlobs } from './blobs.js';
import { resolveLayer } from './catalog.js';
import type { LayerSpec, ModelManifest } from './manifest.js';
import { writerOf, type GraphValue, type MaxPoolGradient, type OnnxWeights, type Saved } from './onnxLayers.js';
import { inputsOf, neededLayers } from './shapes.js';

export type { GraphValue, MaxPoolGradient, OnnxWeights } from './onnxLayers.js';

/**
 * A pretrained network written into an ONNX graph, forward and (by hand, layer by layer) backward
 * to the input pixels, for one fixed tile size. Every shape is known while the graph is built, so
 * paddings, output paddings and masks are plain numbers. The arithmetic follows the tfjs Network
 * exactly (same paddings, same LRN), so both engines compute the same gradient; see
 * docs/architecture.md, "Engines". Each layer kind's forward and backward writer is an entry of
 * `LAYER_WRITERS` (onnxLayers.ts); this file walks the layers and sums the gradients.
 */

export function onnxWeights(manifest: ModelManifest, blobs: ReadonlyMap<string, LayerBlobs>): OnnxWeights {
  const forward: OnnxWeights['forward'] = new Map();
  const backward: OnnxWeights['backward'] = new Map();
  for (const l of manifest.layers) {
    const blob = blobs.get(l.name);
    if (!blob) continue;
    if (l.type === 'fc') {
      forward.set(l.name, { filter: blob.filter, bias: blob.bias, dims: [l.outputs, blob.filter.length / l.outputs] });
      continue;
    }
    if (l.type !== 'conv') continue;
    const cin = inputChannels(manifest, l.input);
    const k = l.kernel;
    const cout = l.filters;
    const src = blob.filter; // [out][kh][kw][in]
    const w = new Float32Array(src.length); // [out][in][kh][kw]
    const back = l.stride === 1 ? new Float32Array(src.length) : undefined; // [in][out][kh][kw], rotated
    for (let o = 0; o < cout; o++) {
      for (let y = 0; y < k; y++) {
        for (let x = 0; x < k; x++) {
          for (let i = 0; i < cin; i++) {
            const v = src[((o * k + y) * k + x) * cin + i]!;
            w[((o * cin + i) * k + y) * k + x] = v;
            if (back) back[((i * cout + o) * k + (k - 1 - y)) * k + (k - 1 - x)] = v;
          }
        }
      }
    }
    forward.set(l.name, { filter: w, bias: blob.bias, dims: [cout, cin, k, k] });
    if (back) backward.set(l.name, back);
  }
  return { forward, backward };
}

/**
 * The forward pass from an NHWC RGB 0-255 image input (as dreamflow stores pictures) up to the
 * `targets` layers. Returns the activations by canonical layer name and a function that, given
 * seed gradients for some activations, writes the backward pass and returns d/d(input) in the
 * input's NHWC layout.
 */
export function writeNetwork(
  g: GraphBuilder,
  manifest: ModelManifest,
  weights: OnnxWeights,
  image: GraphValue,
  targets: readonly string[],
  withGradient: boolean,
  maxPoolGradient: MaxPoolGradient = 'indices',
): { activations: Map<string, GraphValue>; backward: (seeds: ReadonlyMap<string, string>) => string } {
  const canonical = targets.map((t) => resolveLayer(manifest, t).name);
  const layers = neededLayers(manifest, canonical);
  const values = new Map<string, GraphValue>([['data', writeInput(g, manifest, image)]]);
  const saved = new Map<string, Saved>();
  // Each layer's weights enter the graph once, shared by its forward and backward nodes.
  const filters = new Map<string, string>();
  const filterOf = (name: string): string => {
    let c = filters.get(name);
    if (!c) {
      const p = weights.forward.get(name)!;
      c = g.constant(p.filter, p.dims, 'w');
      filters.set(name, c);
    }
    return c;
  };
  const contextOf = (l: LayerSpec) => ({ g, layer: l, inputs: inputsOf(l).map((i) => values.get(i)!), weights, filterOf, withGradient, maxPoolGradient });

  for (const l of layers) {
    const { out, saved: kept } = writerOf(l).forward(contextOf(l));
    if (kept) saved.set(l.name, kept);
    values.set(l.name, out);
  }

  const activations = new Map(targets.map((t, i) => [t, values.get(canonical[i]!)!]));

  const backward = (seeds: ReadonlyMap<string, string>): string => {
    // Gradients flowing into each value, summed once all of its consumers have been visited
    // (reverse topological order guarantees that).
    const incoming = new Map<string, string[]>();
    const push = (name: string, grad: string): void => {
      const list = incoming.get(name) ?? [];
      list.push(grad);
      incoming.set(name, list);
    };
    for (const [layerName, grad] of seeds) push(resolveLayer(manifest, layerName).name, grad);
    for (const l of [...layers].reverse()) {
      const list = incoming.get(l.name);
      if (!list) continue;
      const gy = g.sum(list);
      writerOf(l).backward({ ...contextOf(l), gy, saved: saved.get(l.name), push });
    }
    return writeInputGradient(g, manifest, image, incoming.get('data'));
  };

  return { activations, backward };
}

/** NHWC → NCHW, RGB → the network's channel order, minus the mean. */
function writeInput(g: GraphBuilder, manifest: ModelManifest, image: GraphValue): GraphValue {
  const [, height, width] = image.shape as [number, number, number, number];
  const nchw = g.op('Transpose', [image.name], { perm: [0, 3, 1, 2] });
  const ordered = manifest.input.channelOrder === 'BGR' ? g.op('Gather', [nchw, g.ints([2, 1, 0])], { axis: 1 }) : nchw;
  const mean = g.constant(Float32Array.from(manifest.input.mean), [1, 3, 1, 1], 'mean');
  return { name: g.sub(ordered, mean), shape: [1, 3, height, width] };
}

/** The gradients reaching the network's input, summed and taken back to the picture's NHWC RGB. */
function writeInputGradient(g: GraphBuilder, manifest: ModelManifest, image: GraphValue, grads: string[] | undefined): string {
  const [, height, width] = image.shape as [number, number, number, number];
  const dData = g.sum(grads ?? [g.constant(new Float32Array(3 * height * width), [1, 3, height, width], 'zeros')]);
  const ordered = manifest.input.channelOrder === 'BGR' ? g.op('Gather', [dData, g.ints([2, 1, 0])], { axis: 1 }) : dData;
  return g.op('Transpose', [ordered], { perm: [0, 2, 3, 1] });
}
