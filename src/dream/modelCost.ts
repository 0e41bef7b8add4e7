/**
 * Per-model memory figures (docs/architecture.md, "Memory"), shared by the memory estimate
 * (memory.ts) and the GPU tile size (runner.ts). No imports: both read it without a cycle.
 */
const MiB = 1024 * 1024;

/** Per-model figures: bytes per pixel of the largest tile's view in one pass, bytes per session. */
export interface ModelCost {
  activationPerPixel: number;
  session: number;
}

/**
 * Measured (peak RSS, onnx, one worker, docs/architecture.md "Memory"): GoogLeNet's pass up to
 * inception_4c takes 1.2–1.4 kB per tile pixel (64² → 512² views, a whole 1024² picture for a
 * class objective), SqueezeNet's about 0.25 kB; a session 16–50 MB by how it is counted. A model
 * without figures is costed as GoogLeNet, the larger.
 */
export const MODEL_COSTS: Record<string, ModelCost> = {
  bvlc_googlenet: { activationPerPixel: 1400, session: 40 * MiB },
  squeezenet: { activationPerPixel: 250, session: 20 * MiB },
};

/**
 * The tile side a GPU device takes whole (docs/architecture.md, "Engines"): half of its memory
 * for one tile's pass at the model's measured bytes per pixel, from 512 (the CPU default) to
 * 4096 (--tile's ceiling). 4 GiB gives GoogLeNet 1238 pixels (a 1280x720 frame in two tiles),
 * 16 GiB 2477 (a 1920x1080 frame whole).
 */
export function deviceTileSide(model: string, deviceMemory: number): number {
  const cost = MODEL_COSTS[model] ?? MODEL_COSTS['bvlc_googlenet']!;
  return Math.max(512, Math.min(4096, Math.floor(Math.sqrt((0.5 * deviceMemory) / cost.activationPerPixel))));
}
