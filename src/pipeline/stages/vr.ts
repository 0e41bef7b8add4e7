/**
 * The vr stage kind (docs/architecture.md, "The data flow of one frame"): it takes over the
 * dreaming stage before it and dreams around the sphere: everything that looks past the left or
 * right border wraps around, a cubemap projection dreams on cube faces, a stereo frame's second
 * eye is carried from the first (vr/stage.ts).
 */
import { UserError } from '../../errors.js';
import type { MediaInfo } from '../../media/probe.js';
import type { SizeSpec } from '../../media/size.js';
import { checkEquirectAspect, panoramaSize } from '../../vr/aspect.js';
import { STEREO_MODES, type StereoMode } from '../../vr/layout.js';
import { outputMetadata, readSphericalMetadata, writeSphericalMetadata } from '../../vr/spherical.js';
import { DEFAULT_VR, PROJECTIONS, VrStage, type VrSettings } from '../../vr/stage.js';
import type { StageModule } from '../stageModule.js';
import { boolean, choice, defineSection, integer, type SettingsOf } from '../spec/fields.js';
import { DreamingStage, dreamingOf } from './dream.js';

export const section = defineSection({
  kind: 'vr',
  role: 'stage',
  help: '360° panoramas: wrap-around at 0°/360°, cubemap, stereo, spherical metadata',
  fields: [
    choice('projection', PROJECTIONS, 'equirect: dream the panorama with wrap-around; cubemap: six overlapping cube faces', { default: DEFAULT_VR.projection }),
    choice('stereo', STEREO_MODES, "mono, top-bottom (left eye on top) or left-right (default: the input's spherical metadata, else mono)"),
    integer('eyeIterations', 'steps per octave refining the dream carried from the left eye to the right', { min: 0, max: 1000, default: DEFAULT_VR.eyeIterations }),
    boolean('faststart', 'MP4 index at the front (false: at the end)', { negation: 'no-faststart', default: true }),
  ],
});

export type VrSpec = SettingsOf<typeof section>;

export const stage: StageModule<VrSpec> = {
  kind: 'vr',
  section,
  accepts: ['dreamed'],
  gives: 'dreamed',
  sources: ['video'],
  takesOver: ['dream', 'temporal'],
  // Everything that looks past the left or right border wraps around in longitude.
  plan: (vr, plan) => ({ ...plan, vr, temporal: { ...plan.temporal, wrapX: true } }),
  create: (context, section, previous) => {
    dreamingOf(previous, 'vr');
    const vr: VrSettings = { projection: section.projection, stereo: context.stereo, eyeIterations: section.eyeIterations };
    return new DreamingStage(new VrStage(context.runner, context.objective, context.plan.temporal, vr));
  },
};

const MP4_EXTENSIONS = /\.(mp4|m4v|mov)$/i;

/** What a vr stage makes of a video's output: its size, stereo layout, spherical boxes and report. */
export interface VrOutput {
  stereo: StereoMode;
  size: { width: number; height: number };
  faststart: boolean;
  /** Settings that change the frames: part of the identity a resume checks. */
  identity: { vr: VrSettings };
  /** Writes the spherical boxes into the finished file before it is renamed into place. */
  finalize: (tempPath: string) => Promise<void>;
  report: Record<string, unknown>;
}

/**
 * Before any frame: the output must be MP4 (spherical metadata are MP4 boxes); the input's own
 * spherical metadata give the stereo layout by default and their pose and extra V1 fields are
 * kept; a cube-map or other projection is not something this reads; each eye must be 2:1.
 */
export async function vrOutput(vr: VrSpec, input: string, output: string, probed: Promise<MediaInfo>, size: SizeSpec | undefined): Promise<VrOutput> {
  if (!MP4_EXTENSIONS.test(output)) throw new UserError(`vr: ${output}: the output must be .mp4, .m4v or .mov (spherical metadata are MP4 boxes)`);
  const media = await probed;
  const kept = await readSphericalMetadata(input);
  if (kept?.projection && kept.projection !== 'equirectangular') {
    throw new UserError(`${input}: its spherical metadata say ${kept.projection} projection; dreamflow vr reads equirectangular video`);
  }
  const stereo = vr.stereo ?? kept?.stereo ?? 'mono';
  checkEquirectAspect(input, media, stereo);
  const metadata = outputMetadata(stereo, kept);
  return {
    stereo,
    size: panoramaSize(media, stereo, size),
    faststart: vr.faststart,
    identity: { vr: { projection: vr.projection, stereo, eyeIterations: vr.eyeIterations } },
    finalize: (temp) => writeSphericalMetadata(temp, metadata),
    report: {
      projection: vr.projection,
      stereo,
      faststart: vr.faststart,
      spherical: { projection: metadata.projection, stereo: metadata.stereo, pose: metadata.pose, keptFromInput: kept !== undefined },
    },
  };
}
