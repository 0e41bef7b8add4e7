/**
 * The live job's default dream and temporal settings, on their own so that the spec's field
 * table (spec.ts) can read them without importing the live loop.
 */
import { DEFAULT_DREAM, type DreamSettings } from '../dream/deepdream.js';
import { DEFAULT_TEMPORAL, type TemporalSettings } from '../temporal/stage.js';

/**
 * Live defaults (bench/results/live.json): one octave; at most 2 steps per frame (the
 * controller lowers them to the floor, 1 by default); a fresh frame (the first, a scene cut, a
 * loop restart) gets those steps too instead of a full dream, so it never stalls the feed; 95 %
 * of the warped dream carried, so what stays in view deepens frame after frame, bounded by the
 * carry's RMS cap of 30 grey levels and by the carry's own decay; the flow estimated small.
 * `iterations` (6) remains the full dream of non-live uses of these settings.
 */
export const LIVE_DREAM: DreamSettings = { ...DEFAULT_DREAM, octaves: 1, iterations: 6 };
export const LIVE_TEMPORAL: TemporalSettings = {
  ...DEFAULT_TEMPORAL,
  dream: LIVE_DREAM,
  frameIterations: 2,
  flowMaxWidth: 160,
  blend: 0.95,
  carryLimitRms: 30,
  progressiveFresh: true,
};
