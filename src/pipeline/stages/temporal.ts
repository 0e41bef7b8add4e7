/**
 * The temporal stage kind (docs/architecture.md, "The data flow of one frame"): it takes over the
 * dream stage before it and carries its dream along the optical flow from frame to frame
 * (temporal/stage.ts); its schedules and --react move the settings frame by frame (modulate.ts,
 * through the context's `modulate`).
 */
import { DEFAULT_TEMPORAL, type TemporalSettings } from '../../temporal/stage.js';
import { LIVE_TEMPORAL } from '../liveDefaults.js';
import { modulationOf } from '../schedule.js';
import { boolean, byLive, defineSection, integer, keyframes, number, strings, type SettingsOf } from '../spec/fields.js';
import type { StageModule } from '../stageModule.js';
import { DreamingStage, dreamingOf } from './dream.js';

export const section = defineSection({
  kind: 'temporal',
  role: 'stage',
  help: 'carry the dream along the optical flow from frame to frame',
  fields: [
    boolean('flow', 'carry the dream along optical flow; false dreams every frame from scratch (the flickering baseline)', { negation: 'no-flow', default: true }),
    number('blend', 'share of the previous dream carried to the next frame, 0-1 (live: higher, so the dream builds up)', {
      min: 0,
      max: 1,
      default: byLive(LIVE_TEMPORAL.blend, DEFAULT_TEMPORAL.blend),
    }),
    integer('frameIterations', 'steps per octave on carried frames (live: at most, the controller lowers them)', {
      min: 0,
      max: 1000,
      default: byLive(LIVE_TEMPORAL.frameIterations, DEFAULT_TEMPORAL.frameIterations),
    }),
    integer('flowWidth', 'width the optical flow is estimated at', { min: 32, max: 4096, default: byLive(LIVE_TEMPORAL.flowMaxWidth, DEFAULT_TEMPORAL.flowMaxWidth) }),
    keyframes(
      'schedule',
      'FIELD=T:V,T:V,...: keyframes (T seconds from the start; live: from the first dreamed frame) of step, iterations, frame-iterations, octaves, octave-scale, jitter, blend, zoom, rotate, weight:LAYER, or layer=T:NAME,... (repeatable)',
    ),
    boolean('ease', 'ease in and out between keyframes instead of linearly'),
    number('crossfade', 'seconds a layer schedule takes to fade from one layer to the next', { min: 0, max: 3600, shownDefault: '1' }),
    strings('react', "FIELD=MIN..MAX: the field follows the soundtrack's loudness (video, vr, live: the input's sound; zoom: --audio) (repeatable)"),
    number('reactSmoothing', 'seconds the loudness is smoothed over', { min: 0, max: 60, shownDefault: '0.15' }),
  ],
});

/** The temporal stage's settings, inferred from its section. */
export type TemporalSpec = SettingsOf<typeof section>;

/** What the carry takes from the stage's fields. */
function carryOf(t: TemporalSpec): Partial<TemporalSettings> {
  return { flow: t.flow, blend: t.blend, frameIterations: t.frameIterations, flowMaxWidth: t.flowWidth };
}

export const stage: StageModule<TemporalSpec> = {
  kind: 'temporal',
  section,
  accepts: ['dreamed'],
  gives: 'dreamed',
  sources: ['video', 'live', 'zoom'],
  takesOver: ['dream'],
  // Settings over time: --schedule and --react (modulate.ts, schedule.ts).
  plan: (t, plan) => ({ ...plan, temporal: { ...plan.temporal, ...carryOf(t) }, modulation: modulationOf(t) }),
  // The dream stage before it already dreams with the carry (`plan` above added it).
  create: (_context, _t, previous) => {
    dreamingOf(previous, 'temporal');
    return previous!;
  },
  finish: (context, chained) => (context.modulate ? new DreamingStage(context.modulate(dreamingOf(chained, 'temporal'))) : chained),
};
