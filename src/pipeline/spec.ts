/**
 * The pipeline spec: what a dreamflow job is, as data (docs/architecture.md, "The spec"). One
 * table below holds every field of every source, stage and sink: its type, range, default, help
 * text and command-line flag. Command-line flags and JSON pipeline files both become a spec
 * through it (`specFromArgs`, `validateSpec`), help texts and the JSON Schema are generated from
 * it, and `runPipeline` (run.ts) runs a spec whatever it came from.
 */
import { DEFAULT_DREAM } from '../dream/deepdream.js';
import { UserError, editDistance, nearestNames } from '../errors.js';
import { NAMED_SIZES, parseSize } from '../media/size.js';
import { DEFAULT_MODEL, loadManifest, modelHasLayer } from '../models/manifest.js';
import { DEFAULT_TEMPORAL } from '../temporal/stage.js';
import { DEFAULT_VR } from '../vr/stage.js';
import { LIVE_DREAM, LIVE_TEMPORAL } from './liveDefaults.js';
import { parsePan } from '../temporal/zoom.js';
import { LOOK_NAMES, liveLook, liveLookFields, lookNamed } from '../dream/looks.js';
import { parseScheduleFlag, scheduleFlagOf, scheduleProblem, type Schedule } from './schedule.js';

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'strings' | 'keyframes';
export type FieldValue = string | number | boolean | string[] | Schedule;
export type SourceKind = 'image' | 'folder' | 'video' | 'live' | 'zoom';
export type SectionName = 'source' | 'stages' | 'sinks';

export interface FieldSpec {
  /** JSON name (camelCase of the flag). */
  name: string;
  kind: FieldKind;
  /** The flag without dashes; `''` for the command's positional argument. */
  flag: string;
  short?: string;
  /** Further names of the flag, as ffmpeg spells it (`-ss` for --start); for the positional argument, `-i IN`. */
  aliases?: readonly string[];
  /** What --help names as the default when the field has none in the table (the code's own: e.g. --class-score logit). */
  shownDefault?: string;
  /** A number of seconds that a flag may also give as [HH:]MM:SS.s, as ffmpeg takes times. */
  clock?: boolean;
  help: string;
  /** For booleans whose false is a flag of its own (`flow: false` is `--no-flow`). */
  negation?: string;
  /** For booleans given only as their negation (`adapt: false` is `--no-adapt`). */
  onlyNegation?: boolean;
  values?: readonly string[];
  required?: boolean;
  min?: number;
  max?: number;
  /** What applies when the field is absent; may depend on the source (live jobs dream lighter). */
  default?: FieldValue | ((source: SourceKind) => FieldValue | undefined);
  /** Further checks of a well-typed value: the problem, or undefined. */
  check?: (value: FieldValue) => string | undefined;
}

export interface SectionSpec {
  kind: string;
  section: SectionName;
  help: string;
  fields: FieldSpec[];
}

const f = (name: string, kind: FieldKind, flag: string, help: string, extra: Partial<FieldSpec> = {}): FieldSpec => ({ name, kind, flag, help, ...extra });
const byLive = <T extends FieldValue>(live: T, other: T) => (source: SourceKind): T => (source === 'live' ? live : other);
const userCheck = (parse: (text: string) => unknown) => (v: FieldValue): string | undefined => {
  try {
    parse(String(v));
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^--[\w-]+ /, '');
  }
};

/** `--blur S[:E]`: sigma S at the first step of each octave, annealed linearly to E (default 0). */
export function parseBlur(text: string): { blur: number; blurEnd: number } {
  const m = /^\s*([\d.]+)\s*(?::\s*([\d.]+)\s*)?$/.exec(text);
  const blur = m ? Number(m[1]) : NaN;
  const blurEnd = m?.[2] === undefined ? 0 : Number(m[2]);
  if (!Number.isFinite(blur) || !Number.isFinite(blurEnd) || blur > 50 || blurEnd > 50) {
    throw new UserError(`--blur must be a sigma in pixels (0-50), optionally annealed to another: e.g. 1 or 2:0.5 (got "${text}")`);
  }
  return { blur, blurEnd };
}

/** Live sizes are exact, even (encoders need it) and bounded. */
export function parseLiveSize(text: string): { width: number; height: number } {
  const named = NAMED_SIZES[text.trim().toLowerCase()];
  // A video height name is 16:9 here: a live feed has no input size to keep the aspect of.
  if (named !== undefined) text = `${2 * Math.round((named * 16) / 9 / 2)}x${named}`;
  const m = /^(\d+)x(\d+)$/i.exec(text.trim());
  if (!m) throw new UserError(`--size must be WxH, e.g. 320x180 (got "${text}")`);
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width < 32 || height < 32 || width > 3840 || height > 2160) throw new UserError(`--size ${text}: each side must be from 32 to 3840x2160`);
  if (width % 2 || height % 2) throw new UserError(`--size ${text}: use even numbers (video encoders need them)`);
  return { width, height };
}

const tokenCheck = (v: FieldValue): string | undefined => (String(v).length < 8 ? 'must be at least 8 characters' : undefined);

/** The dream stage: the options every dreaming command shares. */
const DREAM_FIELDS: FieldSpec[] = [
  f('look', 'string', 'look', 'a named look: layers, octaves, step, jitter and priors together (dreamflow looks shows them); options given with it win', { values: LOOK_NAMES }),
  f('model', 'string', 'model', 'bvlc_googlenet or squeezenet', { default: DEFAULT_MODEL }),
  f('layer', 'string', 'layer', "layer(s) to amplify with optional weights, e.g. inception_4c/output or a:1,b:-0.5 (default: the model's)"),
  f('channel', 'integer', 'channel', 'one channel of the layer', { min: 0 }),
  f('guide', 'string', 'guide', 'make the dream look like this picture’s features'),
  f('octaves', 'integer', 'octaves', 'octaves in the pyramid', { min: 1, max: 12, default: byLive(LIVE_DREAM.octaves, DEFAULT_DREAM.octaves) }),
  f('octaveScale', 'number', 'octave-scale', 'size ratio between octaves', { min: 1.01, max: 4, default: DEFAULT_DREAM.octaveScale }),
  f('iterations', 'integer', 'iterations', 'gradient steps per octave (video: on the first frame and after scene cuts)', {
    min: 0,
    max: 10000,
    default: byLive(LIVE_DREAM.iterations, DEFAULT_DREAM.iterations),
  }),
  f('step', 'number', 'step', 'normalised step size (about grey levels per pixel per step)', { min: 0.0001, max: 100, default: DEFAULT_DREAM.step }),
  f('jitter', 'integer', 'jitter', 'random roll per step, pixels', { min: 0, max: 1024, default: DEFAULT_DREAM.jitter }),
  f('tile', 'integer', 'tile', 'largest tile the network sees at once (bounds memory)', { min: 64, max: 4096, default: DEFAULT_DREAM.tile }),
  f('seed', 'integer', 'seed', 'seed of the jitter: same seed and backend, same result', { min: 0, max: 2 ** 32 - 1, default: DEFAULT_DREAM.seed }),
  f('backend', 'string', 'backend', 'auto (onnx when it loads), onnx, wasm, cpu or tensorflow', { values: ['auto', 'onnx', 'wasm', 'cpu', 'tensorflow'], default: 'auto' }),
  f('device', 'string', 'device', 'where the onnx backend runs: cpu, cuda or webgpu', { values: ['cpu', 'cuda', 'webgpu'], default: 'cpu' }),
  f('weights', 'string', 'weights', 'folder holding the model weights'),
  f('workers', 'integer', 'workers', 'worker threads (default: 1 on onnx, one per core on wasm; 0 = this thread)', { min: 0, max: 64 }),
  f('class', 'string', 'class', 'class(es) to make the picture look like: name or index, optional :weight'),
  f('classScore', 'string', 'class-score', 'class score to raise with --class', { values: ['logit', 'probability'], shownDefault: 'logit' }),
  f('neuron', 'string', 'neuron', 'one unit: LAYER:CHANNEL[@X,Y][:weight] (X,Y pixels or percent; video and live: percent)'),
  f('tv', 'number', 'tv', 'total-variation prior weight (0 = off)', { min: 0, max: 100 }),
  f('decay', 'number', 'decay', 'L2 decay of the dreamed detail per step (0 = off)', { min: 0, max: 0.99 }),
  f('blur', 'string', 'blur', 'Gaussian blur sigma S[:E] in pixels, annealed from S to E over each octave', { check: userCheck(parseBlur) }),
  f('blurTarget', 'string', 'blur-target', 'what --blur smooths: the gradient, or the dreamed detail (image)', { values: ['gradient', 'image'], shownDefault: 'gradient' }),
  f('decorrelate', 'boolean', 'decorrelate', 'step in a colour-decorrelated, 1/f-scaled space'),
];

/** `-i IN` and `--input IN` name the positional input, as ffmpeg's habit has it. */
const INPUT_ALIASES = ['i', 'input'] as const;

const SIZE_FIELD = (help: string): FieldSpec => f('size', 'string', 'size', help, { check: userCheck(parseSize) });

export const SECTIONS: readonly SectionSpec[] = [
  {
    kind: 'image',
    section: 'source',
    help: 'one picture, or a synthetic start',
    fields: [
      f('path', 'string', '', 'image file, or a video with --at', { aliases: INPUT_ALIASES }),
      f('from', 'string', 'from', 'start from noise or a flat grey picture instead of a file', { values: ['noise', 'gray'] }),
      f('at', 'number', 'at', 'a video input: dream its frame at this time, seconds or [HH:]MM:SS.s (what dreamflow video would make of it)', { min: 0, clock: true }),
      SIZE_FIELD('working size: N (fit the longer side) or WxH; with --from, N means NxN (default 224)'),
    ],
  },
  {
    kind: 'folder',
    section: 'source',
    help: 'every picture of a folder',
    fields: [f('path', 'string', '', 'folder of pictures', { required: true, aliases: INPUT_ALIASES }), SIZE_FIELD('working size: N (fit the longer side) or WxH')],
  },
  {
    kind: 'video',
    section: 'source',
    help: 'a video file',
    fields: [
      f('path', 'string', '', 'video file', { required: true, aliases: INPUT_ALIASES }),
      SIZE_FIELD("working and output size: N (fit the longer side), WxH, or 360p, 480p, 720p, 1080p, 4k (the shorter side) (default: the input's)"),
      f('start', 'number', 'start', 'seconds (or [HH:]MM:SS.s) into the input to start', { min: 0, aliases: ['ss'], clock: true }),
      f('duration', 'number', 'duration', 'seconds (or [HH:]MM:SS.s) to dream', { min: 0.001, aliases: ['t'], clock: true }),
      f('fps', 'number', 'fps', "output frame rate: the input's frames repeated or dropped by their timestamps (default: the input's rate)", { min: 0.1, max: 240 }),
    ],
  },
  {
    kind: 'zoom',
    section: 'source',
    help: "a still zoomed into frame after frame, each frame the previous dream moved (Google's zoom)",
    fields: [
      f('path', 'string', '', 'image file to start from', { required: true, aliases: INPUT_ALIASES }),
      { ...SIZE_FIELD('working and output size: N (fit the longer side) or WxH'), default: '512' },
      f('duration', 'number', 'duration', 'seconds of animation (or [HH:]MM:SS.s)', { min: 0.001, max: 86400, aliases: ['t'], clock: true, default: 4 }),
      f('fps', 'number', 'fps', 'frame rate', { min: 0.1, max: 240, default: 12 }),
      f('zoom', 'number', 'zoom', 'scale per frame about the centre (>1 zooms in)', { min: 0.5, max: 2, default: 1.04 }),
      f('rotate', 'number', 'rotate', 'degrees per frame, counter-clockwise', { min: -90, max: 90, default: 0 }),
      f('pan', 'string', 'pan', 'DX,DY: pixels per frame the picture moves right and down', { default: '0,0', check: userCheck(parsePan) }),
      f('audio', 'string', 'audio', 'soundtrack to add (cut to the animation; --react follows it)'),
    ],
  },
  {
    kind: 'live',
    section: 'source',
    help: 'a camera, stream, synthetic source or browser cameras, in real time',
    fields: [
      f('input', 'string', 'input', 'lavfi:testsrc2, /dev/video0, camera:0, an rtsp/http/udp/srt/rtmp URL, a file, or browser', { required: true, short: 'i' }),
      f('size', 'string', 'size', 'working and output size WxH, even numbers', { default: '320x180', check: userCheck(parseLiveSize) }),
      f('fps', 'number', 'fps', 'frame rate to hold (steps and resolution adapt to it)', { min: 0.5, max: 60, default: 10 }),
      f('loop', 'boolean', 'loop', 'play a file input in a loop', { default: false }),
      f('adapt', 'boolean', 'adapt', 'never lower steps or resolution to hold --fps: frames are dropped instead (by default they adapt; the field: adapt false)', { negation: 'no-adapt', onlyNegation: true, default: true }),
      f('minSteps', 'integer', 'min-steps', 'quality floor: gradient steps per frame never given up to hold --fps (the frame rate drops instead)', {
        min: 0,
        max: 8,
        default: 1,
      }),
    ],
  },
  { kind: 'dream', section: 'stages', help: 'DeepDream every frame', fields: DREAM_FIELDS },
  {
    kind: 'temporal',
    section: 'stages',
    help: 'carry the dream along the optical flow from frame to frame',
    fields: [
      f('flow', 'boolean', 'flow', 'carry the dream along optical flow; false dreams every frame from scratch (the flickering baseline)', {
        negation: 'no-flow',
        default: true,
      }),
      f('blend', 'number', 'blend', 'share of the previous dream carried to the next frame, 0-1 (live: higher, so the dream builds up)', {
        min: 0,
        max: 1,
        default: byLive(LIVE_TEMPORAL.blend, DEFAULT_TEMPORAL.blend),
      }),
      f('frameIterations', 'integer', 'frame-iterations', 'steps per octave on carried frames (live: at most, the controller lowers them)', {
        min: 0,
        max: 1000,
        default: byLive(LIVE_TEMPORAL.frameIterations, DEFAULT_TEMPORAL.frameIterations),
      }),
      f('flowWidth', 'integer', 'flow-width', 'width the optical flow is estimated at', {
        min: 32,
        max: 4096,
        default: byLive(LIVE_TEMPORAL.flowMaxWidth, DEFAULT_TEMPORAL.flowMaxWidth),
      }),
      f('schedule', 'keyframes', 'schedule', 'FIELD=T:V,T:V,...: keyframes (T seconds from the start; live: from the first dreamed frame) of step, iterations, frame-iterations, octaves, octave-scale, jitter, blend, zoom, rotate, weight:LAYER, or layer=T:NAME,... (repeatable)'),
      f('ease', 'boolean', 'ease', 'ease in and out between keyframes instead of linearly'),
      f('crossfade', 'number', 'crossfade', 'seconds a layer schedule takes to fade from one layer to the next', { min: 0, max: 3600, shownDefault: '1' }),
      f('react', 'strings', 'react', "FIELD=MIN..MAX: the field follows the soundtrack's loudness (video, vr, live: the input's sound; zoom: --audio) (repeatable)"),
      f('reactSmoothing', 'number', 'react-smoothing', 'seconds the loudness is smoothed over', { min: 0, max: 60, shownDefault: '0.15' }),
    ],
  },
  {
    kind: 'vr',
    section: 'stages',
    help: '360° panoramas: wrap-around at 0°/360°, cubemap, stereo, spherical metadata',
    fields: [
      f('projection', 'string', 'projection', 'equirect: dream the panorama with wrap-around; cubemap: six overlapping cube faces', {
        values: ['equirect', 'cubemap'],
        default: DEFAULT_VR.projection,
      }),
      f('stereo', 'string', 'stereo', "mono, top-bottom (left eye on top) or left-right (default: the input's spherical metadata, else mono)", {
        values: ['mono', 'top-bottom', 'left-right'],
      }),
      f('eyeIterations', 'integer', 'eye-iterations', 'steps per octave refining the dream carried from the left eye to the right', {
        min: 0,
        max: 1000,
        default: DEFAULT_VR.eyeIterations,
      }),
      f('faststart', 'boolean', 'faststart', 'MP4 index at the front (false: at the end)', { negation: 'no-faststart', default: true }),
    ],
  },
  { kind: 'image', section: 'sinks', help: 'an image file', fields: [f('path', 'string', 'output', 'output image (.jpg, .png, .webp, .tif, .avif, .gif)', { required: true, short: 'o' })] },
  { kind: 'folder', section: 'sinks', help: 'a folder of pictures, same names', fields: [f('path', 'string', 'output', 'output folder', { required: true, short: 'o' })] },
  {
    kind: 'video',
    section: 'sinks',
    help: 'a video file with the source sound',
    fields: [
      f('path', 'string', 'output', 'output video (.mp4, .m4v, .mov, .mkv, .webm, .avi)', { required: true, short: 'o' }),
      f('codec', 'string', 'codec', 'video encoder (default libx264; libvpx-vp9 for .webm)'),
      f('crf', 'integer', 'crf', 'quality, lower is better', { min: 0, max: 63, default: 18 }),
    ],
  },
  {
    kind: 'viewers',
    section: 'sinks',
    help: 'the HTTP + WebSocket viewer hub',
    fields: [
      f('port', 'integer', 'port', 'HTTP and WebSocket port (0 picks a free one)', { min: 0, max: 65535, default: 8080 }),
      f('host', 'string', 'host', 'address to listen on (127.0.0.1: this machine only)', { default: '127.0.0.1' }),
      f('token', 'string', 'token', 'needed to change settings and share a camera (or env DREAMFLOW_TOKEN)', { check: tokenCheck }),
      f('viewerToken', 'string', 'viewer-token', 'needed to watch (or env DREAMFLOW_VIEWER_TOKEN); open URL?token=T', { check: tokenCheck }),
      f('allowOrigin', 'strings', 'allow-origin', 'also accept browsers from this origin (repeatable)'),
      f('viewersPerAddress', 'integer', 'viewers-per-address', 'most viewers without a token from one address (an IPv6 /64), of 64 in all; 0: no limit (behind a proxy)', {
        min: 0,
        max: 64,
        default: 8,
      }),
    ],
  },
  { kind: 'record', section: 'sinks', help: 'record the live stream', fields: [f('path', 'string', 'record', 'also record the dreamed stream (.mp4, .mkv, .mov, .webm)', { required: true })] },
  { kind: 'push', section: 'sinks', help: 'stream the live output', fields: [f('url', 'string', 'push', 'also stream it: rtmp://, srt://, udp:// or an HLS playlist .m3u8', { required: true })] },
];

/** Stages run in this order; each at most once. */
export const STAGE_ORDER = ['dream', 'temporal', 'vr'] as const;
export type StageKind = (typeof STAGE_ORDER)[number];

/** What each source kind can feed: its stages, its sinks, and the sinks it must have. */
export const SOURCE_RULES: Record<SourceKind, { stages: readonly StageKind[]; sinks: readonly string[]; requiredSinks: readonly string[] }> = {
  image: { stages: ['dream'], sinks: ['image'], requiredSinks: ['image'] },
  folder: { stages: ['dream'], sinks: ['folder'], requiredSinks: ['folder'] },
  video: { stages: ['dream', 'temporal', 'vr'], sinks: ['video'], requiredSinks: ['video'] },
  live: { stages: ['dream', 'temporal'], sinks: ['viewers', 'record', 'push'], requiredSinks: ['viewers'] },
  zoom: { stages: ['dream', 'temporal'], sinks: ['video'], requiredSinks: ['video'] },
};

export interface SectionConfig {
  kind: string;
  [field: string]: FieldValue;
}

/** A pipeline as data: a source, ordered stages and sinks. */
export interface PipelineSpec {
  description?: string;
  source: SectionConfig;
  stages: SectionConfig[];
  sinks: SectionConfig[];
}

export function sectionSpec(section: SectionName, kind: string): SectionSpec | undefined {
  return SECTIONS.find((s) => s.section === section && s.kind === kind);
}

function typeName(v: unknown): string {
  if (v === undefined) return 'nothing';
  return Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function expected(field: FieldSpec): string {
  if (field.values) return `one of ${field.values.join(', ')}`;
  const base = { string: 'a string', number: 'a number', integer: 'a whole number', boolean: 'true or false', strings: 'an array of strings', keyframes: 'an object of FIELD: [[seconds, value], ...]' }[field.kind];
  if (field.min !== undefined && field.max !== undefined) return `${base} from ${field.min} to ${field.max}`;
  if (field.min !== undefined) return `${base} of at least ${field.min}`;
  return base;
}

/** What is wrong with a value for a field (type, range, own check), or undefined. */
export function problemWith(field: FieldSpec, v: unknown): string | undefined {
  let fits: boolean;
  switch (field.kind) {
    case 'string':
      fits = typeof v === 'string' && (!field.values || field.values.includes(v));
      break;
    case 'number':
      fits = typeof v === 'number' && Number.isFinite(v);
      break;
    case 'integer':
      fits = typeof v === 'number' && Number.isInteger(v);
      break;
    case 'boolean':
      fits = typeof v === 'boolean';
      break;
    case 'strings':
      fits = Array.isArray(v) && v.every((s) => typeof s === 'string');
      break;
    case 'keyframes': {
      const problem = scheduleProblem(v);
      if (problem) return problem;
      fits = true;
      break;
    }
  }
  if (fits && typeof v === 'number') fits = (field.min === undefined || v >= field.min) && (field.max === undefined || v <= field.max);
  if (!fits) return `expected ${expected(field)}, got ${typeName(v)}`;
  return field.check?.(v as FieldValue);
}

/** `stages[0].iterations (--iterations)`: where a field is, and the flag that sets it. */
function where(path: string, field: FieldSpec): string {
  return field.flag ? `${path}.${field.name} (--${field.flag})` : `${path}.${field.name}`;
}

function validateSection(value: unknown, section: SectionName, path: string, errors: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push(`${path}: expected an object with a "kind", got ${typeName(value)}`);
    return;
  }
  const obj = value as Record<string, unknown>;
  const kinds = SECTIONS.filter((s) => s.section === section).map((s) => s.kind);
  const noun = section === 'stages' ? 'stage' : section === 'sinks' ? 'sink' : 'source';
  if (typeof obj.kind !== 'string') {
    errors.push(`${path}.kind: expected one of ${kinds.join(', ')}, got ${typeName(obj.kind)}`);
    return;
  }
  const spec = sectionSpec(section, obj.kind);
  if (!spec) {
    errors.push(`${path}.kind: unknown ${noun} "${obj.kind}" (expected one of ${kinds.join(', ')})`);
    return;
  }
  for (const [name, v] of Object.entries(obj)) {
    if (name === 'kind') continue;
    const field = spec.fields.find((x) => x.name === name);
    if (!field) {
      const known = spec.fields.map((x) => x.name);
      errors.push(`${path}.${name}: unknown field of a ${spec.kind} ${noun} (did you mean ${nearestNames(name, known, 2).join(' or ')}?)`);
      continue;
    }
    const problem = problemWith(field, v);
    if (problem) errors.push(`${where(path, field)}: ${problem}`);
  }
  for (const field of spec.fields) {
    if (field.required && obj[field.name] === undefined) errors.push(`${where(path, field)}: required (${field.help})`);
  }
  if (section === 'source' && obj.kind === 'image' && obj.path === undefined && obj.from === undefined) {
    errors.push(`${path}.path: required (an image file, or "from": "noise" or "gray")`);
  }
}

/** Stage order and source/stage/sink compatibility, as field-path errors. */
function checkGraph(spec: PipelineSpec, errors: string[]): void {
  const source = spec.source.kind as SourceKind;
  const rules = SOURCE_RULES[source];
  let last = -1;
  const seen = new Set<string>();
  spec.stages.forEach((s, i) => {
    const order = STAGE_ORDER.indexOf(s.kind as StageKind);
    if (seen.has(s.kind)) errors.push(`stages[${i}]: a second ${s.kind} stage (each stage at most once)`);
    else if (!rules.stages.includes(s.kind as StageKind)) {
      errors.push(`stages[${i}]: a ${source} source cannot feed a ${s.kind} stage (it takes ${rules.stages.join(', ')})`);
    } else if (order < last) {
      errors.push(`stages[${i}]: ${s.kind} cannot come after ${spec.stages[i - 1]!.kind} (stages run in the order ${STAGE_ORDER.join(' → ')})`);
    }
    seen.add(s.kind);
    last = Math.max(last, order);
  });
  if (spec.stages[0]?.kind !== 'dream') errors.push(`stages: the first stage must be a dream stage (stages run in the order ${STAGE_ORDER.join(' → ')})`);
  const sinks = new Set<string>();
  spec.sinks.forEach((s, i) => {
    if (sinks.has(s.kind)) errors.push(`sinks[${i}]: a second ${s.kind} sink`);
    else if (!rules.sinks.includes(s.kind)) errors.push(`sinks[${i}]: a ${source} source cannot feed a ${s.kind} sink (it takes ${rules.sinks.join(', ')})`);
    sinks.add(s.kind);
  });
  for (const k of rules.requiredSinks) if (!sinks.has(k)) errors.push(`sinks: a ${source} pipeline needs a ${k} sink`);
}

/**
 * Check a parsed JSON document; every problem names the field's path and its flag, e.g.
 * `stages[0].iterations (--iterations): expected a whole number from 0 to 10000, got string "ten"`.
 */
export function validateSpec(doc: unknown, label = 'pipeline'): PipelineSpec {
  const errors: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UserError(`${label}: expected a JSON object with source, stages and sinks`);
  const obj = doc as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!['source', 'stages', 'sinks', 'description', '$schema'].includes(key)) errors.push(`${key}: unknown field (a pipeline has source, stages, sinks and description)`);
  }
  if (obj.description !== undefined && typeof obj.description !== 'string') errors.push(`description: expected a string, got ${typeName(obj.description)}`);
  validateSection(obj.source, 'source', 'source', errors);
  for (const name of ['stages', 'sinks'] as const) {
    const list = obj[name];
    if (!Array.isArray(list)) errors.push(`${name}: expected an array, got ${typeName(list)}`);
    else list.forEach((item, i) => validateSection(item, name, `${name}[${i}]`, errors));
  }
  if (errors.length === 0) checkGraph(obj as unknown as PipelineSpec, errors);
  if (errors.length > 0) throw new UserError(`${label}: ${errors.join('; ')}`);
  const { $schema: _schema, ...spec } = obj;
  return spec as unknown as PipelineSpec;
}

// ---------------------------------------------------------------------------------------------
// Commands: the subcommands are presets of the spec.

export type PresetCommand = 'image' | 'stills' | 'video' | 'vr' | 'live' | 'zoom';

interface CommandLayout {
  source: SourceKind;
  stages: StageKind[];
  sinks: string[];
  /** Sinks that appear only when one of their fields is given (live --record, --push). */
  optionalSinks?: string[];
  usage: string;
  summary: string;
}

export const COMMAND_LAYOUTS: Record<PresetCommand, CommandLayout> = {
  image: {
    source: 'image',
    stages: ['dream'],
    sinks: ['image'],
    usage: 'dreamflow image IN -o OUT [options]\n       dreamflow image --from noise|gray [--size N|WxH] -o OUT [options]',
    summary: 'Dream a picture. The output carries its settings (dreamflow info shows them).',
  },
  stills: {
    source: 'folder',
    stages: ['dream'],
    sinks: ['folder'],
    usage: 'dreamflow stills DIR -o OUTDIR [options]',
    summary: 'Dream every picture of a folder into another folder, same names and formats. --resume skips pictures already done.',
  },
  video: {
    source: 'video',
    stages: ['dream', 'temporal'],
    sinks: ['video'],
    usage: 'dreamflow video IN -o OUT [options]',
    summary:
      'Dream a whole video file: same frames, frame rate and sound, hallucinations carried along the optical flow so they stick\nto the scene. Resumable: after Ctrl-C or a crash, run the same command with --resume.',
  },
  vr: {
    source: 'video',
    stages: ['dream', 'temporal', 'vr'],
    sinks: ['video'],
    usage: 'dreamflow vr IN -o OUT.mp4 [options]',
    summary:
      'Dream a 360° equirectangular video for headsets: no seam where 0° meets 360°, optionally on cube faces, both eyes of\nstereo video alike, and spherical metadata (V1 and V2) written so players show it as 360°.',
  },
  zoom: {
    source: 'zoom',
    stages: ['dream', 'temporal'],
    sinks: ['video'],
    usage: 'dreamflow zoom IMAGE -o OUT.mp4 [options]',
    summary:
      "Google's zoom: an animation from a still, each frame the previous dream scaled (--zoom), turned (--rotate) and moved\n(--pan), then dreamed a few steps (--frame-iterations). Resumable: after Ctrl-C, run the same command with --resume.",
  },
  live: {
    source: 'live',
    stages: ['dream', 'temporal'],
    sinks: ['viewers'],
    optionalSinks: ['record', 'push'],
    usage: 'dreamflow live --input SRC [options]',
    summary:
      'Dream a camera or stream in real time for any number of browsers: open the printed URL. Viewers see the dream with its\nfps and latency, can change layer and strength, and can share their own camera. Ctrl-C finishes the recording.',
  },
};

/** How to run rather than what: flags of every preset command and of `dreamflow run`, never in a spec. */
export interface RunFlags {
  json: boolean;
  quiet: boolean;
  resume: boolean;
  printConfig: boolean;
  help: boolean;
  /** -y/--overwrite: replace an existing output (sinks/outputGuard.ts). */
  overwrite: boolean;
  /** -n/--no-overwrite: never replace an existing output. */
  noOverwrite: boolean;
}

const RUN_FLAG_HELP: Array<[keyof RunFlags, string, string]> = [
  ['resume', 'resume', 'continue an interrupted run of the same command (video, vr, zoom, stills)'],
  ['printConfig', 'print-config', 'print the pipeline file these flags make (every default written out) and exit'],
  ['json', 'json', 'print one JSON line with the result'],
  ['quiet', 'quiet', 'no progress output'],
  ['overwrite', 'overwrite', 'replace an existing output (without it a terminal is asked, anything else refused)'],
  ['noOverwrite', 'no-overwrite', 'never replace an existing output (exit 2 when one exists)'],
];

/** One-letter run flags, ffmpeg's: -y replaces an existing output, -n never does. */
const RUN_FLAG_SHORT: Partial<Record<keyof RunFlags, string>> = { overwrite: 'y', noOverwrite: 'n' };

function layoutSections(layout: CommandLayout): Array<{ section: SectionName; spec: SectionSpec }> {
  return [
    { section: 'source' as const, spec: sectionSpec('source', layout.source)! },
    ...layout.stages.map((k) => ({ section: 'stages' as const, spec: sectionSpec('stages', k)! })),
    ...[...layout.sinks, ...(layout.optionalSinks ?? [])].map((k) => ({ section: 'sinks' as const, spec: sectionSpec('sinks', k)! })),
  ];
}

/** `--schedule` flags (one field each) as one schedule; a problem is one line naming the flag. */
function scheduleOfFlags(texts: readonly string[]): Schedule {
  const out: Schedule = {};
  for (const text of texts) {
    let parsed;
    try {
      parsed = parseScheduleFlag(text);
    } catch (err) {
      throw new UserError((err as Error).message);
    }
    if (out[parsed.field]) throw new UserError(`--schedule ${parsed.field} is given twice: give each field once, with all its keyframes`);
    out[parsed.field] = parsed.keys;
  }
  return out;
}

/** `[HH:]MM:SS[.s]` as seconds (ffmpeg's time syntax), or undefined when `text` is not one. */
export function clockSeconds(text: string): number | undefined {
  const m = /^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*$/.exec(text);
  if (!m) return undefined;
  const [h, min, s] = [Number(m[1] ?? 0), Number(m[2]), Number(m[3])];
  return min >= 60 || s >= 60 ? undefined : h * 3600 + min * 60 + s;
}

function parseFlagValue(field: FieldSpec, flag: string, raw: string): FieldValue {
  if (field.clock) {
    const seconds = clockSeconds(raw);
    if (seconds !== undefined) return seconds;
  }
  if (field.kind === 'number' || field.kind === 'integer') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new UserError(`--${flag} must be ${expected(field)} (got "${raw}")`);
    return n;
  }
  return raw;
}

/**
 * The spec a preset command's flags describe: each flag lands in the field the table names, is
 * checked by the same rules as a JSON field, and is refused by name when the command has no such
 * field. Run flags (--json, --quiet, --resume, --print-config, --help) come back separately.
 */
export function specFromArgs(command: PresetCommand, args: readonly string[]): { spec: PipelineSpec; run: RunFlags } {
  const layout = COMMAND_LAYOUTS[command];
  const parts = layoutSections(layout).map((p) => ({ ...p, item: { kind: p.spec.kind } as SectionConfig }));
  const byFlag = new Map<string, { field: FieldSpec; item: SectionConfig; value?: boolean }>();
  for (const { spec, item } of parts) {
    for (const field of spec.fields) {
      if (field.flag === '') continue;
      if (field.kind === 'boolean') {
        if (!field.onlyNegation) byFlag.set(field.flag, { field, item, value: true });
        if (field.negation) byFlag.set(field.negation, { field, item, value: false });
      } else byFlag.set(field.flag, { field, item });
      if (field.short) byFlag.set(field.short, byFlag.get(field.flag)!);
    }
  }
  // ffmpeg's spellings (-ss, -t), unless the command has a flag of that name itself (live's -i).
  for (const { spec, item } of parts) {
    for (const field of spec.fields) for (const alias of field.aliases ?? []) if (!byFlag.has(alias)) byFlag.set(alias, byFlag.get(field.flag) ?? { field, item });
  }
  const run: RunFlags = { json: false, quiet: false, resume: false, printConfig: false, help: false, overwrite: false, noOverwrite: false };
  const runFlags = new Map<string, keyof RunFlags>([
    ...RUN_FLAG_HELP.map(([k, flag]) => [flag, k] as [string, keyof RunFlags]),
    ['help', 'help'],
    ['h', 'help'],
    ...Object.entries(RUN_FLAG_SHORT).map(([k, short]) => [short, k] as [string, keyof RunFlags]),
  ]);
  const positional = parts.find((p) => p.spec.fields.some((x) => x.flag === ''));
  const positionalField = positional?.spec.fields.find((x) => x.flag === '');
  const booleansGiven = new Map<FieldSpec, string>();
  // A second positional argument is the output, as in `ffmpeg IN OUT` without -i.
  const outputPart = parts.find((p) => p.section === 'sinks' && p.spec.fields.some((x) => x.flag === 'output'));
  let positionalOutput: string | undefined;
  const takePositional = (arg: string): void => {
    if (positionalField && positional!.item[positionalField.name] === undefined) positional!.item[positionalField.name] = arg;
    else if (outputPart && positionalOutput === undefined) positionalOutput = arg;
    else throw new UserError(`unexpected argument "${arg}"`);
  };
  let onlyPositionals = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--' && !onlyPositionals) {
      onlyPositionals = true;
      continue;
    }
    if (onlyPositionals || !arg.startsWith('-') || arg === '-') {
      takePositional(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = (eq > 0 ? arg.slice(0, eq) : arg).replace(/^--?/, '');
    const runKey = runFlags.get(name);
    if (runKey) {
      if (eq > 0) throw new UserError(`--${name} takes no value`);
      run[runKey] = true;
      continue;
    }
    const target = byFlag.get(name);
    if (!target) {
      const spelled = `${arg.startsWith('--') ? '--' : '-'}${name}`;
      const ffmpegSpelled = new Set(parts.flatMap((p) => p.spec.fields.flatMap((x) => [...(x.aliases ?? [])])));
      const near = suggestFlags(name, [...byFlag.keys(), ...runFlags.keys()], ffmpegSpelled);
      throw new UserError(`${command}: unknown option ${spelled}${near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : ''}; dreamflow ${command} --help lists every option`);
    }
    const { field, item } = target;
    if (field.flag === '') {
      // `-i IN`: the positional input by name.
      const raw = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (raw === undefined) throw new UserError(`option -${name} needs a value (the input)`);
      if (item[field.name] !== undefined) throw new UserError(`give the input once (got "${String(item[field.name])}" and "${raw}")`);
      item[field.name] = raw;
      continue;
    }
    const flag = field.kind === 'boolean' ? name : field.flag;
    if (field.kind === 'boolean') {
      if (eq > 0) throw new UserError(`--${name} takes no value`);
      const other = booleansGiven.get(field);
      if (other !== undefined && other !== name) throw new UserError(`give either --${other} or --${name}, not both`);
      booleansGiven.set(field, name);
      item[field.name] = target.value!;
      continue;
    }
    const raw = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (raw === undefined) throw new UserError(`option --${flag} needs a value`);
    if (field.kind === 'strings') {
      item[field.name] = [...((item[field.name] as string[] | undefined) ?? []), raw];
      continue;
    }
    if (field.kind === 'keyframes') {
      item[field.name] = { ...((item[field.name] as Schedule | undefined) ?? {}), ...scheduleOfFlags([raw]) };
      continue;
    }
    const value = parseFlagValue(field, flag, raw);
    const problem = problemWith(field, value);
    if (problem) throw new UserError(`--${flag} ${problem.startsWith('expected') ? `must be ${problem.slice('expected '.length)}` : problem}`);
    item[field.name] = value;
  }
  if (positionalOutput !== undefined) {
    if (outputPart!.item.path !== undefined) throw new UserError(`unexpected argument "${positionalOutput}" (the output is -o ${String(outputPart!.item.path)})`);
    outputPart!.item.path = positionalOutput;
  }
  const sinks = parts.filter((p) => p.section === 'sinks' && (layout.sinks.includes(p.spec.kind) || Object.keys(p.item).length > 1));
  const spec: PipelineSpec = {
    source: parts[0]!.item,
    stages: parts.filter((p) => p.section === 'stages').map((p) => p.item),
    sinks: sinks.map((p) => p.item),
  };
  if (run.help) return { spec, run };
  return { spec: validateFlags(command, spec), run };
}

/**
 * The flags nearest an unknown one by edit distance (aliases included), written as given on the
 * command line (`-o`, `--octaves`): at most two, and only those near enough to be a typo.
 */
export function suggestFlags(wanted: string, known: readonly string[], singleDash: ReadonlySet<string> = new Set()): string[] {
  const unique = [...new Set(known)];
  const limit = Math.max(1, Math.floor(wanted.length / 2));
  const scored = unique
    .map((name) => ({ name, d: name.startsWith(wanted) ? Math.min(1, editDistance(wanted, name)) : editDistance(wanted, name) }))
    .filter((s) => s.d <= limit);
  scored.sort((a, b) => a.d - b.d || a.name.length - b.name.length || a.name.localeCompare(b.name));
  return scored.slice(0, 2).map((s) => (s.name.length === 1 || singleDash.has(s.name) ? `-${s.name}` : `--${s.name}`));
}

/** The JSON validation, worded for the command line (flags, not field paths). */
function validateFlags(command: PresetCommand, spec: PipelineSpec): PipelineSpec {
  const missing = (section: SectionConfig, sectionName: SectionName): string | undefined => {
    const s = sectionSpec(sectionName, section.kind)!;
    const field = s.fields.find((x) => x.required && section[x.name] === undefined);
    if (!field) return undefined;
    return field.flag === '' ? `${command}: missing ${field.help} (${COMMAND_LAYOUTS[command].usage.split('\n')[0]!.replace(/^dreamflow /, 'dreamflow ')})` : `${command}: missing --${field.flag}`;
  };
  if (spec.source.kind === 'image' && spec.source.path === undefined && spec.source.from === undefined) {
    throw new UserError(`${command}: missing input file (or --from noise|gray to start without one)`);
  }
  for (const problem of [missing(spec.source, 'source'), ...spec.sinks.map((s) => missing(s, 'sinks'))]) if (problem) throw new UserError(problem);
  return validateSpec(spec, command);
}

/** The command a (validated) spec is a preset of: how its result is reported. */
export function commandOf(spec: PipelineSpec): PresetCommand {
  switch (spec.source.kind as SourceKind) {
    case 'image':
      return 'image';
    case 'folder':
      return 'stills';
    case 'live':
      return 'live';
    case 'zoom':
      return 'zoom';
    case 'video':
      return spec.stages.some((s) => s.kind === 'vr') ? 'vr' : 'video';
  }
}

/** The value a field has in a section: given, else its default for this source. */
export function valueOf(field: FieldSpec, section: SectionConfig, source: SourceKind): FieldValue | undefined {
  const v = section[field.name];
  if (v !== undefined) return v;
  return typeof field.default === 'function' ? field.default(source) : field.default;
}

/** One section with every field's value: given, else its default for `source`. */
function filled(sectionName: SectionName, given: SectionConfig, source: SourceKind): SectionConfig {
  // A named look (dream/looks.ts) fills the fields the section does not give itself.
  const look = given.kind === 'dream' && typeof given.look === 'string' ? lookNamed(given.look) : undefined;
  const item: SectionConfig = look ? { ...look.fields, ...given } : given;
  const out: SectionConfig = { kind: item.kind };
  for (const field of sectionSpec(sectionName, item.kind)!.fields) {
    const v = valueOf(field, item, source);
    if (v !== undefined) out[field.name] = v;
  }
  return out;
}

/** The spec with every default written out (`--print-config`): what will run. */
export function withDefaults(spec: PipelineSpec): PipelineSpec {
  const source = spec.source.kind as SourceKind;
  const fill = (sectionName: SectionName) => (item: SectionConfig): SectionConfig => filled(sectionName, item, source);
  const liveSource = source === 'live' ? fill('source')(spec.source) : undefined;
  const stages = spec.stages.map((stage) => {
    const filled = fill('stages')(stage);
    if (stage.kind === 'dream') {
      if (liveSource) {
        // The look the live working size can carry, as runLiveJob picks it (dream/looks.ts).
        const look = liveLook(parseLiveSize(String(liveSource.size)), filled.device !== 'cpu');
        Object.assign(filled, liveLookFields(stage, look, (name) => modelHasLayer(String(filled.model), name)));
      }
      // A class or neuron objective stands alone unless layers are named: no default layer then.
      const alone = stage.layer === undefined && stage.channel === undefined && (stage.class !== undefined || stage.neuron !== undefined);
      if (!alone && filled.layer === undefined) filled.layer = loadManifest(String(filled.model)).defaultLayer;
    }
    return filled;
  });
  return {
    ...(spec.description ? { description: spec.description } : {}),
    source: fill('source')(spec.source),
    stages,
    sinks: spec.sinks.map(fill('sinks')),
  };
}

/** One section of a spec by kind, with its defaults applied (typed by the caller's interface). */
export function sectionOf<T>(spec: PipelineSpec, section: 'stages' | 'sinks', kind: string): T | undefined {
  const item = spec[section].find((s) => s.kind === kind);
  return item ? (filled(section, item, spec.source.kind as SourceKind) as T) : undefined;
}

/** The source of a spec, with its defaults applied. */
export function sourceOf<T>(spec: PipelineSpec): T {
  return filled('source', spec.source, spec.source.kind as SourceKind) as T;
}

/**
 * The command-line flags that make `spec` with `command` (for printing a command that remakes a
 * result, e.g. the one embedded in a dreamed picture): the inverse of specFromArgs.
 */
export function argsOfSpec(command: PresetCommand, spec: PipelineSpec): string[] {
  const args: string[] = [];
  const positional: string[] = [];
  const emit = (item: SectionConfig, section: SectionName): void => {
    const s = sectionSpec(section, item.kind)!;
    for (const field of s.fields) {
      const v = item[field.name];
      if (v === undefined) continue;
      if (field.flag === '') positional.push(String(v));
      else if (field.kind === 'boolean') {
        const flag = v ? (field.onlyNegation ? undefined : field.flag) : field.negation;
        if (flag) args.push(`--${flag}`);
      } else if (field.kind === 'strings') for (const x of v as string[]) args.push(`--${field.flag}`, x);
      else if (field.kind === 'keyframes') for (const [name, keys] of Object.entries(v as Schedule)) args.push(`--${field.flag}`, scheduleFlagOf(name, keys));
      else args.push(`--${field.flag}`, String(v));
    }
  };
  if (commandOf(spec) !== command) throw new Error(`a ${commandOf(spec)} spec is not made by dreamflow ${command}`);
  emit(spec.source, 'source');
  spec.stages.forEach((s) => emit(s, 'stages'));
  spec.sinks.forEach((s) => emit(s, 'sinks'));
  // `--` keeps a name that starts with "-" a name.
  return [...args, ...(positional.some((p) => p.startsWith('-')) ? ['--'] : []), ...positional];
}

/** `--help` of a preset command, generated from the table. */
export function helpFor(command: PresetCommand): string {
  const layout = COMMAND_LAYOUTS[command];
  const lines = [layout.usage, '', layout.summary, ''];
  const option = (flags: string, help: string): string => {
    const head = `  ${flags}`;
    return head.length < 28 ? `${head.padEnd(28)}${help}` : `${head}\n${' '.repeat(28)}${help}`;
  };
  for (const { spec } of layoutSections(layout)) {
    const fields = spec.fields.filter((x) => x.flag !== '');
    if (fields.length === 0) continue;
    lines.push(`${spec.section === 'stages' ? `${spec.kind} stage` : spec.section === 'sinks' ? `${spec.kind} output` : `${spec.kind} input`} (${spec.help}):`);
    const positional = spec.fields.find((x) => x.flag === '' && x.aliases?.length);
    if (positional) lines.push(option(positional.aliases!.map((a) => (a.length === 1 ? `-${a}` : `--${a}`)).join(', ') + ' IN', `the ${positional.help} (the same as IN; a second name after IN is the output)`));
    for (const field of fields) {
      const d = (typeof field.default === 'function' ? field.default(layout.source) : field.default) ?? field.shownDefault;
      const value = field.kind === 'boolean' ? '' : field.values ? ` ${field.values.join('|')}` : field.kind === 'number' || field.kind === 'integer' ? ' N' : field.kind === 'keyframes' ? ' FIELD=T:V,...' : ' VALUE';
      let flags = field.kind === 'boolean' ? [field.onlyNegation ? undefined : `--${field.flag}`, field.negation ? `--${field.negation}` : undefined].filter(Boolean).join(' / ') : `--${field.flag}${value}`;
      if (field.short) flags = `-${field.short}, ${flags}`;
      for (const alias of field.aliases ?? []) flags += `, -${alias}`;
      const range = field.min !== undefined && field.max !== undefined && !field.values ? ` [${field.min}-${field.max}]` : '';
      lines.push(option(flags, `${field.help}${range}${d !== undefined && field.kind !== 'boolean' ? ` (default ${String(d)})` : ''}`));
    }
  }
  lines.push('run:');
  // Only the file loops resume (video, vr and stills).
  for (const [key, flag, help] of RUN_FLAG_HELP) if (key !== 'resume' || layout.source === 'video' || layout.source === 'folder' || layout.source === 'zoom') lines.push(option(`${RUN_FLAG_SHORT[key] ? `-${RUN_FLAG_SHORT[key]}, ` : ''}--${flag}`, help));
  return lines.join('\n');
}

/** A JSON Schema (draft 2020-12) of pipeline files, for editors; generated from the same table. */
export function jsonSchema(): Record<string, unknown> {
  const property = (field: FieldSpec): Record<string, unknown> => {
    const base: Record<string, unknown> = { description: `${field.help}${field.flag ? ` (--${field.flag})` : ' (the positional argument)'}` };
    if (field.kind === 'strings') return { ...base, type: 'array', items: { type: 'string' } };
    if (field.kind === 'keyframes') {
      const keyframe = { type: 'array', prefixItems: [{ type: 'number', minimum: 0 }, { type: ['number', 'string'] }], minItems: 2, maxItems: 2 };
      return { ...base, type: 'object', additionalProperties: { type: 'array', minItems: 1, items: keyframe } };
    }
    if (field.values) return { ...base, enum: field.values };
    return { ...base, type: field.kind, ...(field.min !== undefined ? { minimum: field.min } : {}), ...(field.max !== undefined ? { maximum: field.max } : {}) };
  };
  const variants = (section: SectionName): Array<Record<string, unknown>> =>
    SECTIONS.filter((s) => s.section === section).map((s) => ({
      type: 'object',
      description: s.help,
      properties: { kind: { const: s.kind }, ...Object.fromEntries(s.fields.map((x) => [x.name, property(x)])) },
      required: ['kind', ...s.fields.filter((x) => x.required).map((x) => x.name)],
      additionalProperties: false,
    }));
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'dreamflow pipeline',
    type: 'object',
    properties: {
      $schema: { type: 'string' },
      description: { type: 'string' },
      source: { oneOf: variants('source') },
      stages: { type: 'array', items: { oneOf: variants('stages') } },
      sinks: { type: 'array', items: { oneOf: variants('sinks') } },
    },
    required: ['source', 'stages', 'sinks'],
    additionalProperties: false,
  };
}

/**
 * Apply `--set path=value` overrides (`source.path=clip.mp4`, `stages[0].iterations=3`); the value
 * is read as JSON when it parses, else as a string.
 */
export function applyOverride(doc: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new UserError(`--set expects PATH=VALUE, e.g. source.path=clip.mp4 (got "${assignment}")`);
  const path = assignment.slice(0, eq);
  const raw = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const keys = path.match(/[^.[\]]+/g) ?? [];
  if (keys.length === 0) throw new UserError(`--set: empty path in "${assignment}"`);
  // A path part naming the prototype chain would change every object of the process, not a field.
  const forbidden = keys.find((k) => k === '__proto__' || k === 'constructor' || k === 'prototype');
  if (forbidden !== undefined) throw new UserError(`--set ${path}: "${forbidden}" is not a field`);
  let node: unknown = doc;
  for (const [i, key] of keys.entries()) {
    const last = i === keys.length - 1;
    if (typeof node !== 'object' || node === null) throw new UserError(`--set ${path}: ${keys.slice(0, i).join('.')} is not an object or array`);
    const container = node as Record<string, unknown>;
    if (last) container[key] = value;
    else node = Object.hasOwn(container, key) ? container[key] : undefined;
  }
}

/** Flag values as node:util parseArgs returns them, keyed by flag name. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** parseArgs option declarations for a section's flags (commands that are not presets, e.g. sweep). */
export function flagOptions(section: SectionName, kind: string): Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> {
  const out: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const field of sectionSpec(section, kind)!.fields) {
    if (field.flag === '') continue;
    if (field.kind === 'boolean') {
      if (!field.onlyNegation) out[field.flag] = { type: 'boolean' };
      if (field.negation) out[field.negation] = { type: 'boolean' };
    } else out[field.flag] = { type: 'string', ...(field.kind === 'strings' || field.kind === 'keyframes' ? { multiple: true } : {}), ...(field.short ? { short: field.short } : {}) };
  }
  return out;
}

/** A section from parsed flags, every value checked by the table (the flag is named in errors). */
export function sectionFromValues(section: SectionName, kind: string, values: FlagValues): SectionConfig {
  const item: SectionConfig = { kind };
  for (const field of sectionSpec(section, kind)!.fields) {
    if (field.flag === '') continue;
    if (field.kind === 'boolean') {
      const yes = !field.onlyNegation && values[field.flag] === true;
      const no = field.negation !== undefined && values[field.negation] === true;
      if (yes && no) throw new UserError(`give either --${field.flag} or --${field.negation}, not both`);
      if (yes || no) item[field.name] = yes;
      continue;
    }
    const raw = values[field.flag];
    if (raw === undefined || typeof raw === 'boolean') continue;
    if (Array.isArray(raw)) {
      item[field.name] = field.kind === 'keyframes' ? scheduleOfFlags(raw) : raw;
      continue;
    }
    const value = parseFlagValue(field, field.flag, raw);
    const problem = problemWith(field, value);
    if (problem) throw new UserError(`--${field.flag} ${problem.startsWith('expected') ? `must be ${problem.slice('expected '.length)}` : problem}`);
    item[field.name] = value;
  }
  return item;
}
