import type { GraphBuilder } from '../engine/onnx/graph.js';
import type { ConvLayer, LayerSpec, MaxPoolLayer } from './manifest.js';
import { convOut, poolPads } from './shapes.js';

/**
 * How each layer kind is written into an ONNX graph: one forward and one backward writer per
 * kind, in `LAYER_WRITERS`. `writeNetwork` (onnxNetwork.ts) walks the layers in topological
 * order calling the forward writers, then in reverse calling the backward ones. A new layer kind
 * is one entry here (docs/architecture.md, "Engines" and "Where to add things").
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

/**
 * How max pooling's gradient finds each window's winner: MaxPool's `Indices` output scattered
 * back (fastest on the CPU provider), or equality masks against the pooled output (for the GPU
 * providers: WebGPU has no `Indices`). Both give the same gradient; docs/architecture.md, "Engines".
 */
export type MaxPoolGradient = 'indices' | 'masks';

/** What the backward pass of a layer needs from its forward pass. */
export interface Saved {
  output: GraphValue;
  extra?: string[];
}

/** What a forward writer is given: the layer, its input values (in order) and the weights. */
export interface ForwardContext<L extends LayerSpec = LayerSpec> {
  g: GraphBuilder;
  layer: L;
  inputs: GraphValue[];
  weights: OnnxWeights;
  /** The layer's forward filter as a graph constant, entered once and shared with its backward. */
  filterOf: (name: string) => string;
  withGradient: boolean;
  maxPoolGradient: MaxPoolGradient;
}

/** What a backward writer is given besides: the summed gradient of its output and what it saved. */
export interface BackwardContext<L extends LayerSpec = LayerSpec> extends ForwardContext<L> {
  gy: string;
  saved: Saved | undefined;
  /** Adds a gradient flowing into the value named `name` (an input of this layer). */
  push: (name: string, grad: string) => void;
}

export interface LayerWriter<L extends LayerSpec> {
  forward(c: ForwardContext<L>): { out: GraphValue; saved?: Saved };
  backward(c: BackwardContext<L>): void;
}

type LayerWriters = { [K in LayerSpec['type']]: LayerWriter<Extract<LayerSpec, { type: K }>> };

const dims4 = (v: GraphValue): [number, number, number, number] => v.shape as [number, number, number, number];

export const LAYER_WRITERS: LayerWriters = {
  conv: {
    forward({ g, layer: l, inputs: [x], weights, filterOf }) {
      const [, , h, w] = dims4(x!);
      const p = weights.forward.get(l.name)!;
      const conv = g.op('Conv', [x!.name, filterOf(l.name), g.constant(p.bias, [l.filters], 'b')], {
        kernel_shape: [l.kernel, l.kernel],
        strides: [l.stride, l.stride],
        pads: [l.pad, l.pad, l.pad, l.pad],
      });
      const shape = [1, l.filters, convOut(h, l.kernel, l.stride, l.pad), convOut(w, l.kernel, l.stride, l.pad)];
      const out = { name: l.relu ? g.op('Relu', [conv]) : conv, shape };
      return { out, saved: { output: out } };
    },
    backward({ g, layer: l, inputs: [x], weights, filterOf, gy, saved, push }) {
      push(l.input, convBackward(g, l, weights.backward.get(l.name), filterOf(l.name), gy, saved!.output, x!.shape));
    },
  },
  maxpool: {
    forward({ g, layer: l, inputs: [x], withGradient, maxPoolGradient }) {
      const [, c, h, w] = dims4(x!);
      const py = poolPads(h, l.kernel, l.stride, l.padding);
      const px = poolPads(w, l.kernel, l.stride, l.padding);
      const attrs = { kernel_shape: [l.kernel, l.kernel], strides: [l.stride, l.stride], pads: [py.before, px.before, py.after, px.after] };
      const shape = [1, c, py.out, px.out];
      if (withGradient && maxPoolGradient === 'indices') {
        // The Indices output says where each maximum came from (flat, unpadded input index).
        const [y, indices] = g.opN('MaxPool', [x!.name], 2, attrs);
        const out = { name: y!, shape };
        return { out, saved: { output: out, extra: [indices!] } };
      }
      const out = { name: g.op('MaxPool', [x!.name], attrs), shape };
      return { out, saved: { output: out } };
    },
    backward({ g, layer: l, inputs: [x], gy, saved, push }) {
      const { output, extra } = saved!;
      if (!extra) {
        push(l.input, maxPoolBackwardByMasks(g, l, x!, output, gy));
        return;
      }
      const [, c, h, w] = dims4(x!);
      // Overlapping windows (3×3 stride 2, stride 1) can pick the same pixel: the gradient
      // contributions must add up, hence ScatterElements with reduction 'add' (MaxUnpool
      // would keep only one of them).
      const zeros = g.op('ConstantOfShape', [g.ints([c * h * w])]);
      const flat = g.op('ScatterElements', [zeros, g.reshape(extra[0]!, [-1]), g.reshape(gy, [-1])], { axis: 0, reduction: 'add' });
      push(l.input, g.reshape(flat, x!.shape));
    },
  },
  lrn: {
    forward({ g, layer: l, inputs: [x] }) {
      // y = x · s^-β with s = 1 + α/size · (sum of x² over a window of `size` channels).
      const c = x!.shape[1]!;
      const s = g.add(g.scalar(1), channelWindowSum(g, g.mul(x!.name, x!.name), c, l.size, l.alpha / l.size));
      const sPow = g.op('Pow', [s, g.scalar(-l.beta)]);
      const out = { name: g.mul(x!.name, sPow), shape: x!.shape };
      return { out, saved: { output: out, extra: [s, sPow] } };
    },
    backward({ g, layer: l, inputs: [x], gy, saved, push }) {
      // dx = g·s^-β − 2β·α/size · x · (window sum of g · y / s)
      const { output, extra } = saved!;
      const [s, sPow] = extra as [string, string];
      const t = g.div(g.mul(gy, output.name), s);
      const spread = g.mul(x!.name, channelWindowSum(g, t, x!.shape[1]!, l.size, (2 * l.beta * l.alpha) / l.size));
      push(l.input, g.sub(g.mul(gy, sPow), spread));
    },
  },
  concat: {
    forward({ g, layer: l, inputs }) {
      const [, , h, w] = dims4(inputs[0]!);
      return { out: { name: g.op('Concat', inputs.map((i) => i.name), { axis: 1 }), shape: [1, l.channels, h, w] } };
    },
    backward({ g, layer: l, inputs, gy, push }) {
      const sizes = inputs.map((i) => i.shape[1]!);
      const parts = g.opN('Split', [gy, g.ints(sizes)], sizes.length, { axis: 1 });
      l.inputs.forEach((name, i) => push(name, parts[i]!));
    },
  },
  globalavgpool: {
    forward({ g, inputs: [x] }) {
      return { out: { name: g.op('GlobalAveragePool', [x!.name]), shape: [1, x!.shape[1]!, 1, 1] } };
    },
    backward({ g, layer: l, inputs: [x], gy, push }) {
      const [, c, h, w] = dims4(x!);
      const spread = g.op('Expand', [g.reshape(gy, [1, c, 1, 1]), g.ints(x!.shape)]);
      push(l.input, g.mul(spread, g.scalar(1 / (h * w))));
    },
  },
  fc: {
    forward({ g, layer: l, inputs: [x], weights, filterOf }) {
      const p = weights.forward.get(l.name)!;
      const flat = g.op('Flatten', [x!.name], { axis: 1 });
      const y = g.op('Gemm', [flat, filterOf(l.name), g.constant(p.bias, [l.outputs], 'b')], { transB: 1 });
      return { out: { name: y, shape: [1, l.outputs] } };
    },
    backward({ g, layer: l, inputs: [x], filterOf, gy, push }) {
      const dflat = g.op('MatMul', [g.reshape(gy, [1, l.outputs]), filterOf(l.name)]);
      push(l.input, g.reshape(dflat, x!.shape));
    },
  },
  softmax: {
    forward({ g, layer: l, inputs: [x] }) {
      const flat = g.op('Flatten', [x!.name], { axis: 1 });
      const out = { name: g.op('Softmax', [flat], { axis: 1 }), shape: [1, l.channels] };
      return { out, saved: { output: out } };
    },
    backward({ g, layer: l, inputs: [x], gy, saved, push }) {
      // dz = p · (g − Σ g·p)
      const p = saved!.output.name;
      const dot = g.op('ReduceSum', [g.mul(gy, p), g.ints([1])], { keepdims: 1 });
      push(l.input, g.reshape(g.mul(p, g.sub(gy, dot)), x!.shape));
    },
  },
};

/** The writer of a layer's kind (TypeScript cannot narrow the table's entry by `l.type` itself). */
export function writerOf(l: LayerSpec): LayerWriter<LayerSpec> {
  return LAYER_WRITERS[l.type] as LayerWriter<LayerSpec>;
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
  const [, c, h, w] = dims4(x);
  const [, , ho, wo] = dims4(y);
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
