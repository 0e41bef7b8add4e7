import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelManifest } from './manifest.js';

/** One layer's parameters exactly as the weight files store them (see readBlobs). */
export interface LayerBlobs {
  /** Convolutions: [out][kh][kw][in]; fully connected: [out][in]. */
  filter: Float32Array;
  bias: Float32Array;
}

async function readFloats(path: string): Promise<Float32Array> {
  const buf = await readFile(path);
  // Copy into a fresh, aligned buffer: Node's pooled Buffers may start at odd offsets.
  const out = new Float32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/**
 * Every conv and fc layer's weights from a model folder (`weights/<blob>_filter.bin` and
 * `_bias.bin`, little-endian float32), keyed by layer name. Each engine converts them to its own
 * layout: tfjs wants [kh][kw][in][out], ONNX [out][in][kh][kw].
 */
export async function readBlobs(manifest: ModelManifest, dir: string): Promise<Map<string, LayerBlobs>> {
  const blobs = new Map<string, LayerBlobs>();
  await Promise.all(
    manifest.layers.map(async (l) => {
      if (l.type !== 'conv' && l.type !== 'fc') return;
      const [filter, bias] = await Promise.all([
        readFloats(join(dir, 'weights', `${l.weights}_filter.bin`)),
        readFloats(join(dir, 'weights', `${l.weights}_bias.bin`)),
      ]);
      blobs.set(l.name, { filter, bias });
    }),
  );
  return blobs;
}

/** Input channels of a layer's input (3 for the image). */
export function inputChannels(manifest: ModelManifest, input: string): number {
  return input === 'data' ? 3 : manifest.layers.find((l) => l.name === input)!.channels;
}
