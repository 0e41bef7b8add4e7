/**
 * Schedules and reaction on a live feed (docs/architecture.md, "Schedules and reaction"). A live
 * job has no timeline known ahead: a schedule's T is seconds since the job started dreaming, and
 * the loudness is measured as the input's sound arrives (media/liveAudio.ts), normalised by a
 * decaying running peak instead of the clip's loudest moment. Before each dreamed frame the
 * scheduler (live.ts) asks `LiveModulator.next` what to dream it with; the page's controls keep
 * working for every field nothing drives. schedule.ts has the shared maths.
 */
import type { DreamSettings } from '../dream/deepdream.js';
import type { Objective } from '../dream/objectives.js';
import { UserError } from '../errors.js';
import { probe } from '../media/probe.js';
import type { LiveInput } from '../sources/live.js';
import { DrivenObjective } from './modulate.js';
import { reactionValue, settle, valueAt, type Modulation } from './schedule.js';

/** Seconds the running peak takes to fall to 1/e: a loud passage stops setting the scale after about this long. */
export const PEAK_MEMORY_SECONDS = 10;
/** The smallest peak the loudness is divided by (RMS of full scale): near-silence never reads as loud. */
export const SILENCE_FLOOR = 0.01;
/** The most steps per frame a live field may ask for (the page's iterations control has the same cap). */
export const LIVE_MAX_ITERATIONS = 8;

/** The smoothed loudness and the running peak it is normalised by. */
export interface LoudnessState {
  level: number;
  peak: number;
}

/**
 * The state after one more frame period of sound whose RMS is `rms`: smoothed with time
 * constant `smoothing` (attack and release alike, as for files), the peak decaying with
 * PEAK_MEMORY_SECONDS. Pure.
 */
export function nextLoudness(state: LoudnessState, rms: number, periodSeconds: number, smoothing: number): LoudnessState {
  const a = smoothing > 0 ? 1 - Math.exp(-periodSeconds / smoothing) : 1;
  const level = state.level + a * (rms - state.level);
  const peak = Math.max(level, state.peak * Math.exp(-periodSeconds / PEAK_MEMORY_SECONDS));
  return { level, peak };
}

/** 0 (silence) to 1 (as loud as the running peak). Pure. */
export function normalisedLoudness(state: LoudnessState): number {
  return Math.min(1, state.level / Math.max(SILENCE_FLOOR, state.peak));
}

/**
 * A running loudness of interleaved s16le PCM as it arrives: the RMS of each frame period (all
 * channels mixed), folded into a LoudnessState.
 */
export class RunningLoudness {
  private state: LoudnessState = { level: 0, peak: 0 };
  private sumSquares = 0;
  private count = 0;
  /** A byte left over from a chunk that ended inside a sample. */
  private odd: number | undefined;
  private readonly periodSamples: number;

  constructor(
    private readonly sampleRate: number,
    private readonly channels: number,
    fps: number,
    private readonly smoothing: number,
  ) {
    this.periodSamples = Math.max(1, Math.round((sampleRate * channels) / fps));
  }

  /** Loudness now, 0 to 1. */
  get value(): number {
    return normalisedLoudness(this.state);
  }

  push(pcm: Uint8Array): void {
    let i = 0;
    if (this.odd !== undefined && pcm.length > 0) {
      this.add(((pcm[0]! << 8) | this.odd) << 16 >> 16);
      this.odd = undefined;
      i = 1;
    }
    for (; i + 1 < pcm.length; i += 2) this.add((pcm[i]! | (pcm[i + 1]! << 8)) << 16 >> 16);
    if (i < pcm.length) this.odd = pcm[i];
  }

  private add(sample: number): void {
    const v = sample / 32768;
    this.sumSquares += v * v;
    if (++this.count < this.periodSamples) return;
    const period = this.count / (this.sampleRate * this.channels);
    this.state = nextLoudness(this.state, Math.sqrt(this.sumSquares / this.count), period, this.smoothing);
    this.sumSquares = 0;
    this.count = 0;
  }
}

/** What one live frame is dreamed with, beyond what the page's controls set. */
export interface LiveAdjustment {
  /** Each driven field's value now (for /stats and the HUD). */
  values: Record<string, number>;
  dream: Partial<DreamSettings>;
  blend?: number;
  /** Steps per frame at the richest level (the page's iterations). */
  iterations?: number;
  /** The objective when a layer schedule or a layer's weight is driven. */
  objective?: Objective;
}

/** What a live modulation cannot do, or undefined. Zoom and rotate move a zoom animation; live has no move. */
export function liveModulationProblem(m: Modulation): string | undefined {
  const fields = [...Object.keys(m.schedule), ...m.react.map((r) => r.field)];
  const moving = fields.find((f) => f === 'zoom' || f === 'rotate');
  if (moving) return `live: ${moving} moves a zoom animation; a live feed cannot follow it (schedule or react another field)`;
  return undefined;
}

export class LiveModulator {
  private origin: number | undefined;
  private readonly driven: DrivenObjective;

  /**
   * `layers`: the objectives of a layer schedule's names (checked before the job starts);
   * `loudness`: the input's running loudness when a field reacts to it.
   */
  constructor(
    private readonly m: Modulation,
    layers: ReadonlyMap<string, Objective>,
    private readonly loudness?: { readonly value: number },
  ) {
    const problem = liveModulationProblem(m);
    if (problem) throw new UserError(problem);
    if (m.react.length > 0 && !loudness) throw new UserError('live --react needs the input\'s sound');
    this.driven = new DrivenObjective(m, layers);
  }

  /** The adjustment for a frame dreamed at `nowMs` (performance.now()); the first call starts the clock. */
  next(nowMs: number, objective: Objective): LiveAdjustment {
    this.origin ??= nowMs;
    const seconds = Math.max(0, (nowMs - this.origin) / 1000);
    const values: Record<string, number> = {};
    for (const [field, keys] of Object.entries(this.m.schedule)) if (field !== 'layer') values[field] = settle(field, valueAt(keys, seconds, this.m.ease));
    if (this.loudness) for (const r of this.m.react) values[r.field] = settle(r.field, reactionValue(r, this.loudness.value));
    const dream: Partial<DreamSettings> = {};
    for (const f of ['step', 'octaves', 'octaveScale', 'jitter'] as const) if (values[f] !== undefined) dream[f] = values[f];
    const out: LiveAdjustment = { values, dream };
    if (values.blend !== undefined) out.blend = values.blend;
    // Live dreams every frame with its per-frame steps: iterations and frame-iterations are both that.
    const steps = values.frameIterations ?? values.iterations;
    if (steps !== undefined) out.iterations = Math.min(LIVE_MAX_ITERATIONS, steps);
    const driven = this.driven.at(seconds, new Map(Object.entries(values)), objective);
    if (driven !== objective) out.objective = driven;
    return out;
  }
}

/**
 * Before any work: live --react follows the input's own sound, so the input must be a file with
 * an audio stream (the sound is read beside the picture, media/liveAudio.ts).
 */
export async function checkLiveSound(input: LiveInput): Promise<void> {
  if (input.kind !== 'file') throw new UserError(`live --react follows the input's sound: ${input.label} has none dreamflow can read (use a file input with sound)`);
  if (!(await probe(input.path)).audio) throw new UserError(`live --react follows the input's sound: ${input.label} has no audio stream`);
}
