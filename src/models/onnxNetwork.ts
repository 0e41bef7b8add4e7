import type { GraphBuilder } from '../engine/onnx/graph.js';
import { inputChannels, type LayerBlobs } from './blobs.js';
import { resolveLayer } from './catalog.js';
import type { ConvLayer, MaxPoolLayer, ModelManifest } from './manifest.js';
import { convOut, inputsOf, neededLayers, poolPads } from './shapes.js';

/**
 * A pretrained network written into an ONNX graph, forward and (by hand, layer by layer) backward
 * to the input pixels, for one fixed tile size. Every shape is known while the graph is built, so
 * paddings, output paddings and masks are plain numbers. The arithmetic follows the tfjs Network
 * exactly (same paddings, same LRN), so both engines compute the same gradient; see
 * docs/architecture.md, "Engines".
 */

/** A value in the graph and its shape: [1, C, H, W] for feature maps, [1, N] for vectors. */
export interface GraphValue {
  name: string;
  shape: number[];
}

/** Weights converted once to the layouts the graphs use, shared by every graph of a model. */
export interface OnnxWeights {
  /** [out][in][kh][kw] for convolutions, [out][in] for fully connected layers. */
  forward: Map<string, { filter: Float32Array; bias: Float32Array; dims: number[] }>;
  /**
   * Stride-1 convolutions' input-gradient kernels: rotated 180° with in and out swapped,
   * [in][out][kh][kw], so the backward pass is a plain forward Conv (which ONNX Runtime runs
   * faster than ConvTranspose).
   */
  backward: Map<string, Float32Array>;
}

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
 * How max pooling's gradient finds each window's winner: MaxPool's `Indices` output scattered
 * back (fastest on the CPU provider), or equality masks against the pooled output (for the GPU
 * providers: WebGPU has no `Indices`). Both give the same gradient; docs/architecture.md, "Engines".
 */
export type MaxPoolGradient = 'indices' | 'masks';

interface Saved {
  /** What the backward pass of the layer needs from the forward pass. */
  output: GraphValue;
  extra?: string[];
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
  const [, height, width] = image.shape as [number, number, number, number];
  const canonical = targets.map((t) => resolveLayer(manifest, t).name);
  const layers = neededLayers(manifest, canonical);

  // NHWC → NCHW, RGB → the network's channel order, minus the mean.
  const nchw = g.op('Transpose', [image.name], { perm: [0, 3, 1, 2] });
  const bgr = manifest.input.channelOrder === 'BGR';
  const ordered = bgr ? g.op('Gather', [nchw, g.ints([2, 1, 0])], { axis: 1 }) : nchw;
  const mean = g.constant(Float32Array.from(manifest.input.mean), [1, 3, 1, 1], 'mean');
  const values = new Map<string, GraphValue>([['data', { name: g.sub(ordered, mean), shape: [1, 3, height, width] }]]);
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

  for (const l of layers) {
    const inputs = inputsOf(l).map((i) => values.get(i)!);
    const x = inputs[0]!;
    const [, c, h, w] = x.shape as [number, number, number, number];
    let out: GraphValue;
    switch (l.type) {
      case 'conv': {
        const p = weights.forward.get(l.name)!;
        const conv = g.op('Conv', [x.name, filterOf(l.name), g.constant(p.bias, [l.filters], 'b')], {
          kernel_shape: [l.kernel, l.kernel],
          strides: [l.stride, l.stride],
          pads: [l.pad, l.pad, l.pad, l.pad],
        });
        const shape = [1, l.filters, convOut(h, l.kernel, l.stride, l.pad), convOut(w, l.kernel, l.stride, l.pad)];
        out = { name: l.relu ? g.op('Relu', [conv]) : conv, shape };
        saved.set(l.name, { output: out });
        break;
      }
      case 'maxpool': {
        const py = poolPads(h, l.kernel, l.stride, l.padding);
        const px = poolPads(w, l.kernel, l.stride, l.padding);
        const attrs = { kernel_shape: [l.kernel, l.kernel], strides: [l.stride, l.stride], pads: [py.before, px.before, py.after, px.after] };
        const shape = [1, c, py.out, px.out];
        if (withGradient && maxPoolGradient === 'indices') {
          // The Indices output says where each maximum came from (flat, unpadded input index).
          const [y, indices] = g.opN('MaxPool', [x.name], 2, attrs);
          out = { name: y!, shape };
          saved.set(l.name, { output: out, extra: [indices!] });
        } else {
          out = { name: g.op('MaxPool', [x.name], attrs), shape };
          saved.set(l.name, { output: out });
        }
        break;
      }
      case 'lrn': {
        // y = x · s^-β with s = 1 + α/size · (sum of x² over a window of `size` channels).
        const s = g.add(g.scalar(1), channelWindowSum(g, g.mul(x.name, x.name), c, l.size, l.alpha / l.size));
        const sPow = g.op('Pow', [s, g.scalar(-l.beta)]);
        out = { name: g.mul(x.name, sPow), shape: x.shape };
        saved.set(l.name, { output: out, extra: [s, sPow] });
        break;
      }
      case 'concat':
        out = { name: g.op('Concat', inputs.map((i) => i.name), { axis: 1 }), shape: [1, l.channels, h, w] };
        break;
      case 'globalavgpool':
        out = { name: g.op('GlobalAveragePool', [x.name]), shape: [1, c, 1, 1] };
        break;
      case 'fc': {
        const p = weights.forward.get(l.name)!;
        const flat = g.op('Flatten', [x.name], { axis: 1 });
        const y = g.op('Gemm', [flat, filterOf(l.name), g.constant(p.bias, [l.outputs], 'b')], { transB: 1 });
        out = { name: y, shape: [1, l.outputs] };
        break;
      }
      case 'softmax': {
        const flat = g.op('Flatten', [x.name], { axis: 1 });
        out = { name: g.op('Softmax', [flat], { axis: 1 }), shape: [1, l.channels] };
        saved.set(l.name, { output: out });
        break;
      }
    }
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
      const inputs = inputsOf(l).map((i) => values.get(i)!);
      const x = inputs[0]!;
      switch (l.type) {
        case 'conv':
          push(l.input, convBackward(g, l, weights.backward.get(l.name), filterOf(l.name), gy, saved.get(l.name)!.output, x.shape));
          break;
        case 'maxpool': {
          const { output, extra } = saved.get(l.name)!;
          if (!extra) {
            push(l.input, maxPoolBackwardByMasks(g, l, x, output, gy));
            break;
          }
          const [, c, h, w] = x.shape as [number, number, number, number];
          // Overlapping windows (3×3 stride 2, stride 1) can pick the same pixel: the gradient
          // contributions must add up, hence ScatterElements with reduction 'add' (MaxUnpool
          // would keep only one of them).
          const zeros = g.op('ConstantOfShape', [g.ints([c * h * w])]);
          const flat = g.op('ScatterElements', [zeros, g.reshape(extra[0]!, [-1]), g.reshape(gy, [-1])], { axis: 0, reduction: 'add' });
          push(l.input, g.reshape(flat, x.shape));
          break;
        }
        case 'lrn': {
          // dx = g·s^-β − 2β·α/size · x · (window sum of g · y / s)
          const { output, extra } = saved.get(l.name)!;
          const [s, sPow] = extra as [string, string];
          const t = g.div(g.mul(gy, output.name), s);
          const spread = g.mul(x.name, channelWindowSum(g, t, x.shape[1]!, l.size, (2 * l.beta * l.alpha) / l.size));
          push(l.input, g.sub(g.mul(gy, sPow), spread));
          break;
        }
        case 'concat': {
          const sizes = inputs.map((i) => i.shape[1]!);
          const parts = g.opN('Split', [gy, g.ints(sizes)], sizes.length, { axis: 1 });
          l.inputs.forEach((name, i) => push(name, parts[i]!));
          break;
        }
        case 'globalavgpool': {
          const [, c, h, w] = x.shape as [number, number, number, number];
          const spread = g.op('Expand', [g.reshape(gy, [1, c, 1, 1]), g.ints(x.shape)]);
          push(l.input, g.mul(spread, g.scalar(1 / (h * w))));
          break;
        }
        case 'fc': {
          const dflat = g.op('MatMul', [g.reshape(gy, [1, l.outputs]), filterOf(l.name)]);
          push(l.input, g.reshape(dflat, x.shape));
          break;
        }
        case 'softmax': {
          // dz = p · (g − Σ g·p)
          const p = saved.get(l.name)!.output.name;
          const dot = g.op('ReduceSum', [g.mul(gy, p), g.ints([1])], { keepdims: 1 });
          push(l.input, g.reshape(g.mul(p, g.sub(gy, dot)), x.shape));
          break;
        }
      }
    }
    const dData = g.sum(incoming.get('data') ?? [g.constant(new Float32Array(3 * height * width), [1, 3, height, width], 'zeros')]);
    const ordered = bgr ? g.op('Gather', [dData, g.ints([2, 1, 0])], { axis: 1 }) : dData;
    return g.op('Transpose', [ordered], { perm: [0, 2, 3, 1] });
  };

  return { activations, backward };
}

/**
 * `scale` × the sum over a window of `size` neighbouring channels (zeros beyond the ends), for
 * LRN: a 1×1 convolution with a banded C×C matrix, which ONNX Runtime runs as one small GEMM
 * (measured 10x faster than pooling over a reshaped channel axis).
 */
function channelWindowSum(g: GraphBuilder, x: string, channels: number, size: number, scale: number): string {
  const half = (size - 1) / 2;
  const band = new Float32Array(channels * channels);
  for (let o = 0; o < channels; o++) {
    for (let i = Math.max(0, o - half); i <= Math.min(channels - 1, o + half); i++) band[o * channels + i] = scale;
  }
  return g.op('Conv', [x, g.constant(band, [channels, channels, 1, 1], 'band')], { kernel_shape: [1, 1] });
}

/**
 * d/dx of max pooling without MaxPool's `Indices` output (which ONNX Runtime's WebGPU provider
 * does not implement; docs/architecture.md, "Engines"). For each window offset (dy, dx) in
 * row-major order, a strided Slice of the -inf padded input is the value every window holds
 * there; where it equals the pooled output and no earlier offset of that window has claimed the
 * gradient, the offset takes it. That is ONNX Runtime's CPU rule (the first maximum in row-major
 * order wins), so ties route the gradient to the same pixel as before. The k² claimed gradients,
 * stacked per channel, go back to their pixels with one depthwise ConvTranspose whose kernels are
 * one-hot at each offset; overlapping windows (3×3 stride 2 or 1) add up there.
 */
function maxPoolBackwardByMasks(g: GraphBuilder, l: MaxPoolLayer, x: GraphValue, y: GraphValue, gy: string): string {
  const [, c, h, w] = x.shape as [number, number, number, number];
  const [, , ho, wo] = y.shape as [number, number, number, number];
  const k = l.kernel;
  const s = l.stride;
  const py = poolPads(h, k, s, l.padding);
  const px = poolPads(w, k, s, l.padding);
  const hp = h + py.before + py.after;
  const wp = w + px.before + px.after;
  const padded =
    py.before + py.after + px.before + px.after > 0
      ? g.op('Pad', [x.name, g.ints([0, 0, py.before, px.before, 0, 0, py.after, px.after]), g.scalar(-Infinity)])
      : x.name;
  let unclaimed = gy;
  const claimed: string[] = [];
  for (let dy = 0; dy < k; dy++) {
    for (let dx = 0; dx < k; dx++) {
      const view = g.op('Slice', [
        padded,
        g.ints([dy, dx]),
        g.ints([dy + (ho - 1) * s + 1, dx + (wo - 1) * s + 1]),
        g.ints([2, 3]),
        g.ints([s, s]),
      ]);
      // Mul by the 0/1 mask and Sub are exact here and run far faster than Where on the CPU.
      const wins = g.mul(g.op('Cast', [g.op('Equal', [view, y.name])], { to: 1 }), unclaimed);
      claimed.push(g.op('Unsqueeze', [wins, g.ints([2])]));
      if (dy < k - 1 || dx < k - 1) unclaimed = g.sub(unclaimed, wins);
    }
  }
  const stacked = g.reshape(g.op('Concat', claimed, { axis: 2 }), [1, c * k * k, ho, wo]);
  const route = new Float32Array(c * k * k * k * k);
  for (let i = 0; i < c * k * k; i++) route[i * k * k + (i % (k * k))] = 1;
  return g.op('ConvTranspose', [stacked, g.constant(route, [c * k * k, 1, k, k], 'route')], {
    group: c,
    kernel_shape: [k, k],
    strides: [s, s],
    pads: [py.before, px.before, py.after, px.after],
    output_padding: [hp - ((ho - 1) * s + k), wp - ((wo - 1) * s + k)],
  });
}

/** d/dx of conv (+ ReLU): the ReLU mask, then the transposed convolution. */
function convBackward(
  g: GraphBuilder,
  l: ConvLayer,
  back: Float32Array | undefined,
  filter: string,
  gy: string,
  y: GraphValue,
  xShape: readonly number[],
): string {
  const masked = l.relu ? g.op('Where', [g.op('Greater', [y.name, g.scalar(0)]), gy, g.scalar(0)]) : gy;
  const [, , h, w] = xShape as [number, number, number, number];
  const k = l.kernel;
  if (back) {
    // Stride 1: correlation with the rotated kernel, padded so the result has the input's size.
    const pad = k - 1 - l.pad;
    return g.op('Conv', [masked, g.constant(back, [xShape[1]!, l.filters, k, k], 'wb')], {
      kernel_shape: [k, k],
      pads: [pad, pad, pad, pad],
    });
  }
  // Strided: ConvTranspose with the forward kernel; output_padding restores the trailing rows
  // and columns the forward convolution dropped (they get zero gradient).
  const rh = (h + 2 * l.pad - k) % l.stride;
  const rw = (w + 2 * l.pad - k) % l.stride;
  return g.op('ConvTranspose', [masked, filter], {
    kernel_shape: [k, k],
    strides: [l.stride, l.stride],
    pads: [l.pad, l.pad, l.pad, l.pad],
    output_padding: [rh, rw],
  });
}
