/**
 * Keyframed schedules and audio reaction as data (docs/architecture.md, "Schedules and
 * reaction"): parsing `--schedule FIELD=T:V,...` and `--react FIELD=MIN..MAX`, checking a
 * pipeline file's `"schedule": {"step": [[0, 1.5], [4, 3]]}`, and the values at a time. Pure:
 * no I/O, no model (modulate.ts applies them to a stage).
 */

import { UserError } from '../errors.js';

/** Keyframes of one field: [seconds, value], a layer schedule's values are layer names. */
export type Keyframe = [number, number | string];
export type Schedule = Record<string, Keyframe[]>;

/** A numeric field a schedule or a reaction may drive, and where it lives. */
export interface ModulatedField {
  /** Whole numbers only (steps, octaves). */
  integer: boolean;
  min: number;
  max: number;
}

/** The fields that may change over time: dream, temporal and zoom settings (`weight:LAYER` too). */
export const MODULATED_FIELDS: Readonly<Record<string, ModulatedField>> = {
  step: { integer: false, min: 0.0001, max: 100 },
  iterations: { integer: true, min: 0, max: 10000 },
  frameIterations: { integer: true, min: 0, max: 1000 },
  octaves: { integer: true, min: 1, max: 12 },
  octaveScale: { integer: false, min: 1.01, max: 4 },
  jitter: { integer: true, min: 0, max: 1024 },
  blend: { integer: false, min: 0, max: 1 },
  zoom: { integer: false, min: 0.5, max: 2 },
  rotate: { integer: false, min: -90, max: 90 },
};

/** Flag spellings of the fields (`frame-iterations`) to their names (`frameIterations`). */
function fieldName(text: string): string {
  return text.trim().replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

const WEIGHT_PREFIX = 'weight:';

/** What is wrong with a field name, or undefined. */
function fieldProblem(name: string): string | undefined {
  if (name === 'layer' || MODULATED_FIELDS[name] !== undefined) return undefined;
  if (name.startsWith(WEIGHT_PREFIX) && name.length > WEIGHT_PREFIX.length) return undefined;
  return `unknown field "${name}" (one of ${[...Object.keys(MODULATED_FIELDS), 'layer', 'weight:LAYER'].join(', ')})`;
}

/** The range a value of `name` must be in: a layer's weight may be negative. */
function rangeOf(name: string): ModulatedField {
  return MODULATED_FIELDS[name] ?? { integer: false, min: -100, max: 100 };
}

/** What is wrong with one field's keyframes, or undefined. */
export function keyframesProblem(name: string, keys: unknown): string | undefined {
  const field = fieldProblem(name);
  if (field) return field;
  if (!Array.isArray(keys) || keys.length === 0) return `${name}: expected a list of [seconds, value] keyframes`;
  let last = -Infinity;
  for (const key of keys) {
    if (!Array.isArray(key) || key.length !== 2 || typeof key[0] !== 'number' || !Number.isFinite(key[0]) || key[0] < 0) {
      return `${name}: each keyframe is [seconds, value] with seconds >= 0, got ${JSON.stringify(key)}`;
    }
    if (key[0] <= last) return `${name}: keyframe times must increase (${key[0]} after ${last})`;
    last = key[0];
    const value: unknown = key[1];
    if (name === 'layer') {
      if (typeof value !== 'string' || value.trim() === '') return `layer: each keyframe's value is a layer name, got ${JSON.stringify(value)}`;
      continue;
    }
    const r = rangeOf(name);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < r.min || value > r.max) return `${name}: values must be numbers from ${r.min} to ${r.max}, got ${JSON.stringify(value)}`;
  }
  return undefined;
}

/** What is wrong with a whole schedule object, or undefined. */
export function scheduleProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected an object of FIELD: [[seconds, value], ...]';
  for (const [name, keys] of Object.entries(value)) {
    const problem = keyframesProblem(name, keys);
    if (problem) return problem;
  }
  return undefined;
}

/** `step=0:0.2,2:4` (or `layer=0:inception_3b/output,4:inception_4d/output`) as a field and its keyframes. */
export function parseScheduleFlag(text: string): { field: string; keys: Keyframe[] } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`--schedule must be FIELD=T:V,T:V,... e.g. step=0:0.5,4:3 (got "${text}")`);
  const field = fieldName(text.slice(0, eq));
  const keys: Keyframe[] = text
    .slice(eq + 1)
    .split(',')
    .map((pair) => {
      const colon = pair.indexOf(':');
      const t = colon > 0 ? Number(pair.slice(0, colon)) : NaN;
      const raw = colon > 0 ? pair.slice(colon + 1).trim() : '';
      if (!Number.isFinite(t) || raw === '') throw new Error(`--schedule ${text}: each keyframe is SECONDS:VALUE (got "${pair}")`);
      return [t, field === 'layer' ? raw : Number(raw)] as Keyframe;
    });
  const problem = keyframesProblem(field, keys);
  if (problem) throw new Error(`--schedule ${problem}`);
  return { field, keys };
}

/** The flag text of one field's keyframes (inverse of parseScheduleFlag). */
export function scheduleFlagOf(field: string, keys: readonly Keyframe[]): string {
  return `${field}=${keys.map(([t, v]) => `${t}:${v}`).join(',')}`;
}

/** `t` eased: smoothstep, so a change starts and ends gently. */
function eased(t: number): number {
  return t * t * (3 - 2 * t);
}

/** A numeric field's value at `seconds`: linear (or eased) between keyframes, held outside them. */
export function valueAt(keys: readonly Keyframe[], seconds: number, ease = false): number {
  const first = keys[0]!;
  if (seconds <= first[0]) return first[1] as number;
  for (let i = 1; i < keys.length; i++) {
    const [t1, v1] = keys[i]! as [number, number];
    if (seconds < t1) {
      const [t0, v0] = keys[i - 1]! as [number, number];
      const u = (seconds - t0) / (t1 - t0);
      return v0 + (v1 - v0) * (ease ? eased(u) : u);
    }
  }
  return keys[keys.length - 1]![1] as number;
}

/**
 * The layers' weights at `seconds` of a `layer` schedule: each keyframe's layer takes over from
 * the one before over `crossfade` seconds from its time (weights summing to 1).
 */
export function layerWeightsAt(keys: readonly Keyframe[], seconds: number, crossfade: number, ease = false): Map<string, number> {
  let i = 0;
  while (i + 1 < keys.length && keys[i + 1]![0] <= seconds) i++;
  const weights = new Map<string, number>();
  const current = String(keys[i]![1]);
  const since = seconds - keys[i]![0];
  if (i === 0 || crossfade <= 0 || since >= crossfade || seconds < keys[0]![0]) {
    weights.set(current, 1);
    return weights;
  }
  const u = ease ? eased(since / crossfade) : since / crossfade;
  const previous = String(keys[i - 1]![1]);
  weights.set(previous, (weights.get(previous) ?? 0) + 1 - u);
  weights.set(current, (weights.get(current) ?? 0) + u);
  return weights;
}

/** `--react step=0.2..4`: the field the loudness drives and the range it maps onto. */
export interface Reaction {
  field: string;
  min: number;
  max: number;
}

export function parseReact(text: string): Reaction {
  const m = /^\s*([\w:/-]+)\s*=\s*(-?[\d.]+(?:e-?\d+)?)\s*\.\.\s*(-?[\d.]+(?:e-?\d+)?)\s*$/i.exec(text);
  if (!m) throw new Error(`--react must be FIELD=MIN..MAX, e.g. step=0.5..3 (got "${text}")`);
  const field = fieldName(m[1]!);
  const problem = field === 'layer' ? 'layer cannot react (a name is not a range)' : fieldProblem(field);
  if (problem) throw new Error(`--react ${problem}`);
  const [min, max] = [Number(m[2]), Number(m[3])];
  const r = rangeOf(field);
  for (const v of [min, max]) if (!Number.isFinite(v) || v < r.min || v > r.max) throw new Error(`--react ${field}: values must be from ${r.min} to ${r.max} (got ${v})`);
  return { field, min, max };
}

/** A loudness from 0 (silence) to 1 (the loudest moment) mapped onto a reaction's range. */
export function reactionValue(reaction: Reaction, loudness: number): number {
  return reaction.min + (reaction.max - reaction.min) * Math.min(1, Math.max(0, loudness));
}

/** A field's value as the settings take it: whole numbers rounded, inside its range. */
export function settle(field: string, value: number): number {
  const r = rangeOf(field);
  const v = Math.min(r.max, Math.max(r.min, value));
  return r.integer ? Math.round(v) : v;
}

/** The temporal stage's schedule and reaction fields (spec.ts), as the stage plan carries them. */
export interface Modulation {
  schedule: Schedule;
  ease: boolean;
  /** Seconds a `layer` schedule takes to cross-fade from one layer to the next. */
  crossfade: number;
  react: Reaction[];
  /** Time constant of the loudness envelope's smoothing, seconds. */
  reactSmoothing: number;
}

export const DEFAULT_CROSSFADE = 1;
export const DEFAULT_REACT_SMOOTHING = 0.15;

/** The modulation a temporal stage's fields ask for, or undefined when they ask for none. */
export function modulationOf(t: { schedule?: Schedule; ease?: boolean; crossfade?: number; react?: string[]; reactSmoothing?: number }): Modulation | undefined {
  const schedule = t.schedule ?? {};
  const react = (t.react ?? []).map((r) => {
    try {
      return parseReact(r);
    } catch (err) {
      throw new UserError((err as Error).message);
    }
  });
  if (Object.keys(schedule).length === 0 && react.length === 0) return undefined;
  const both = react.find((r) => schedule[r.field] !== undefined);
  if (both) throw new UserError(`--react ${both.field} and --schedule ${both.field}: a field follows either the sound or a schedule, not both`);
  return { schedule, ease: t.ease ?? false, crossfade: t.crossfade ?? DEFAULT_CROSSFADE, react, reactSmoothing: t.reactSmoothing ?? DEFAULT_REACT_SMOOTHING };
}
