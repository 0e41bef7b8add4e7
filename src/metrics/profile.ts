/**
 * Where each live frame's time goes: rolling statistics per phase (capture and queue, scale,
 * flow, warp, dream, upscale, gain measurement, JPEG encode, send) over the last frames, for
 * the viewer page's HUD, `/stats` and the live benchmark.
 */

export interface PhaseStats {
  /** Mean over the window, ms. */
  meanMs: number;
  p95Ms: number;
  /** Samples in the window. */
  n: number;
}

export class RollingProfile {
  private readonly samples = new Map<string, number[]>();

  constructor(private readonly window = 100) {}

  add(phase: string, ms: number): void {
    let list = this.samples.get(phase);
    if (!list) this.samples.set(phase, (list = []));
    list.push(ms);
    if (list.length > this.window) list.shift();
  }

  snapshot(): Record<string, PhaseStats> {
    const out: Record<string, PhaseStats> = {};
    for (const [phase, list] of this.samples) {
      if (list.length === 0) continue;
      const sorted = [...list].sort((a, b) => a - b);
      const mean = list.reduce((a, b) => a + b, 0) / list.length;
      out[phase] = { meanMs: round(mean), p95Ms: round(sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!), n: list.length };
    }
    return out;
  }
}

const round = (x: number): number => Math.round(x * 10) / 10;
