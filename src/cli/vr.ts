import { UserError } from '../errors.js';
import { probe } from '../media/probe.js';
import { parseSize } from '../media/size.js';
import { checkEquirectAspect, panoramaSize } from '../vr/aspect.js';
import { STEREO_MODES, type StereoMode } from '../vr/layout.js';
import { outputMetadata, readSphericalMetadata, writeSphericalMetadata } from '../vr/spherical.js';
import { DEFAULT_VR, PROJECTIONS, VrStage, type Projection, type VrSettings } from '../vr/stage.js';
import { num, parse, str, type Values } from './options.js';
import { VIDEO_OPTIONS, dreamVideoFile, temporalSettings, videoWindow } from './video.js';

export const VR_OPTIONS = {
  ...VIDEO_OPTIONS,
  projection: { type: 'string' },
  stereo: { type: 'string' },
  'eye-iterations': { type: 'string' },
  faststart: { type: 'boolean' },
  'no-faststart': { type: 'boolean' },
} as const;

export const VR_HELP = `dreamflow vr IN -o OUT [options]

Dream a 360° equirectangular video for headsets: no seam where 0° meets 360° (everything that
sees the picture's borders wraps around in longitude), optionally dreamed on cube faces for
less distortion near the poles, both eyes of stereo video dreamed alike, and spherical metadata
(Spherical Video V1 and V2) written so players and video sites show the output as 360°.

  -o, --output FILE         output video (.mp4, .m4v or .mov: the metadata are MP4 boxes)
      --projection P        equirect (default): dream the panorama with wrap-around;
                            cubemap: dream six overlapping cube faces and blend them back
      --stereo S            mono, top-bottom (left eye on top) or left-right (default: what
                            the input's spherical metadata say, else mono)
      --eye-iterations N    steps per octave refining the dream carried from the left eye to the
                            right (stereo only, default ${DEFAULT_VR.eyeIterations})
      --faststart / --no-faststart
                            index at the front of the file (default) or at the end
      --size N|WxH          working and output size: fit the frame's longer side to N, or
                            exactly WxH (2:1 per eye); default: the input's height kept, width
                            made 2:1 per eye (non-square pixels are resampled to square)
  Video options (as for "dreamflow video"): --flow/--no-flow --blend --frame-iterations
  --flow-width --start --duration --codec --crf --resume --json --quiet
  Dream options (as for "dreamflow image"): --model --layer --channel --guide --octaves
  --octave-scale --iterations --step --jitter --tile --seed --backend --device --weights --workers
  --class --class-score --neuron --tv --decay --blur --blur-target --decorrelate`;

const MP4_EXTENSIONS = /\.(mp4|m4v|mov)$/i;

function choice<T extends string>(values: Values, name: string, allowed: readonly T[]): T | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new UserError(`--${name} must be one of ${allowed.join(', ')} (got "${v}")`);
  return v as T;
}

export async function vrCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, VR_OPTIONS);
  if (values.help) {
    console.log(VR_HELP);
    return;
  }
  const input = positionals[0];
  const output = str(values, 'output');
  if (!input) throw new UserError('vr: missing input file (dreamflow vr IN -o OUT)');
  if (!output) throw new UserError('vr: missing -o OUT');
  if (!MP4_EXTENSIONS.test(output)) throw new UserError(`vr: ${output}: the output must be .mp4, .m4v or .mov (spherical metadata are MP4 boxes)`);
  if (values.faststart && values['no-faststart']) throw new UserError('give either --faststart or --no-faststart, not both');
  const projection: Projection = choice(values, 'projection', PROJECTIONS) ?? DEFAULT_VR.projection;
  const stereoFlag = choice(values, 'stereo', STEREO_MODES);
  const eyeIterations = num(values, 'eye-iterations', DEFAULT_VR.eyeIterations, { integer: true, min: 0, max: 1000 });
  const temporal = { ...temporalSettings(values), wrapX: true };
  const sizeText = str(values, 'size');
  videoWindow(values); // refuse a bad --start, --duration or --crf before probing the input

  // The input's own spherical metadata: its stereo layout is the default, its pose and extra V1
  // fields are kept; a cube-map or other projection is not something this command reads.
  const media = await probe(input);
  const kept = await readSphericalMetadata(input);
  if (kept?.projection && kept.projection !== 'equirectangular') {
    throw new UserError(`${input}: its spherical metadata say ${kept.projection} projection; dreamflow vr reads equirectangular video`);
  }
  const stereo: StereoMode = stereoFlag ?? kept?.stereo ?? 'mono';
  checkEquirectAspect(input, media, stereo);
  const size = panoramaSize(media, stereo, sizeText ? parseSize(sizeText) : undefined);
  const vr: VrSettings = { projection, stereo, eyeIterations };
  const metadata = outputMetadata(stereo, kept);

  const result = await dreamVideoFile(values, input, output, temporal, {
    size,
    createStage: (r, o, t) => new VrStage(r, o, t, vr),
    stageIdentity: { vr },
    faststart: !values['no-faststart'],
    finalize: (temp) => writeSphericalMetadata(temp, metadata),
  });
  const summary = {
    ...result,
    projection,
    stereo,
    faststart: !values['no-faststart'],
    spherical: { projection: metadata.projection, stereo: metadata.stereo, pose: metadata.pose, keptFromInput: kept !== undefined },
  };
  if (values.json) console.log(JSON.stringify(summary));
  else if (!values.quiet) {
    console.log(
      `wrote ${output}: ${summary.frames} frames ${summary.width}x${summary.height} (${stereo}, dreamed ${projection}) at ${summary.frameRate} fps, ${summary.secondsPerFrame} s/frame, dream gain ${summary.dreamGain}, flicker ratio ${summary.flickerRatio}; 360° metadata written`,
    );
  }
}
