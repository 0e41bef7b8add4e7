/**
 * Pipeline configs (DESIGN.md): a JSON file names a source, stages with their options and sinks.
 * One table below says, for every field, which command-line flag it is, so a JSON field and a
 * flag can never disagree: `configFromArgs` turns a subcommand's flags into a config, and
 * `argsFromConfig` turns a config back into the same subcommand and flags, which then runs
 * through exactly the code the subcommand runs.
 */
import { DEFAULT_DREAM } from '../dream/deepdream.js';
import { UserError, nearestNames } from '../errors.js';
import { DEFAULT_MODEL, loadManifest } from '../models/manifest.js';
import { DEFAULT_TEMPORAL } from '../temporal/stage.js';
import { LIVE_DREAM, LIVE_TEMPORAL } from './live.js';

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'strings';

export interface FieldSpec {
  /** JSON name (camelCase of the flag). */
  name: string;
  kind: FieldKind;
  /** The flag without dashes; `''` for the command's positional argument. */
  flag: string;
  /** For booleans whose false is a flag of its own (`flow: false` is `--no-flow`). */
  negation?: string;
  /** For booleans given only as their negation (`adapt: false` is `--no-adapt`). */
  onlyNegation?: boolean;
  values?: readonly string[];
  required?: boolean;
  help: string;
}

export type SectionName = 'source' | 'stages' | 'sinks';

export interface SectionSpec {
  kind: string;
  section: SectionName;
  help: string;
  fields: FieldSpec[];
}

const f = (name: string, kind: FieldKind, flag: string, help: string, extra: Partial<FieldSpec> = {}): FieldSpec => ({ name, kind, flag, help, ...extra });

/** The dream stage: the options every dreaming command shares (src/cli/options.ts DREAM_OPTIONS). */
const DREAM_FIELDS: FieldSpec[] = [
  f('model', 'string', 'model', 'bvlc_googlenet or squeezenet'),
  f('layer', 'string', 'layer', 'layer(s) to amplify with optional weights, e.g. inception_4c/output or a:1,b:0.5'),
  f('channel', 'integer', 'channel', 'one channel of the layer'),
  f('guide', 'string', 'guide', 'guide image path'),
  f('octaves', 'integer', 'octaves', 'octaves in the pyramid'),
  f('octaveScale', 'number', 'octave-scale', 'size ratio between octaves'),
  f('iterations', 'integer', 'iterations', 'gradient steps per octave (first frame and scene cuts for video)'),
  f('step', 'number', 'step', 'normalised step size'),
  f('jitter', 'integer', 'jitter', 'random roll per step, pixels'),
  f('tile', 'integer', 'tile', 'largest tile the network sees at once'),
  f('seed', 'integer', 'seed', 'seed of the jitter sequence'),
  f('backend', 'string', 'backend', 'auto, onnx, wasm, cpu or tensorflow', { values: ['auto', 'onnx', 'wasm', 'cpu', 'tensorflow'] }),
  f('device', 'string', 'device', 'where the onnx backend runs: cpu, cuda or webgpu', { values: ['cpu', 'cuda', 'webgpu'] }),
  f('weights', 'string', 'weights', 'folder holding the model weights'),
  f('workers', 'integer', 'workers', 'worker threads (0 = main thread)'),
  f('class', 'string', 'class', 'class(es) to make the image look like: name or index, optional :weight'),
  f('classScore', 'string', 'class-score', 'class score to raise', { values: ['logit', 'probability'] }),
  f('neuron', 'string', 'neuron', 'one neuron: LAYER:CHANNEL[@X,Y][:weight] (position in percent for video)'),
  f('tv', 'number', 'tv', 'total-variation prior weight (0 = off)'),
  f('decay', 'number', 'decay', 'L2 decay of the dreamed detail per step (0 = off)'),
  f('blur', 'string', 'blur', 'Gaussian blur sigma S[:E], annealed from S to E over each octave'),
  f('blurTarget', 'string', 'blur-target', 'what --blur smooths', { values: ['gradient', 'image'] }),
  f('decorrelate', 'boolean', 'decorrelate', 'decorrelated step: ImageNet colour decorrelation and 1/f spectrum'),
];

export const SECTIONS: readonly SectionSpec[] = [
  {
    kind: 'image',
    section: 'source',
    help: 'one picture',
    fields: [f('path', 'string', '', 'image file', { required: true }), f('size', 'string', 'size', 'working size: N (fit) or WxH')],
  },
  {
    kind: 'folder',
    section: 'source',
    help: 'every picture of a folder',
    fields: [f('path', 'string', '', 'folder of images', { required: true }), f('size', 'string', 'size', 'working size: N (fit) or WxH')],
  },
  {
    kind: 'video',
    section: 'source',
    help: 'a video file',
    fields: [
      f('path', 'string', '', 'video file', { required: true }),
      f('size', 'string', 'size', 'working and output size: N (fit) or WxH'),
      f('start', 'number', 'start', 'seconds into the input to start'),
      f('duration', 'number', 'duration', 'seconds to dream'),
    ],
  },
  {
    kind: 'live',
    section: 'source',
    help: 'a camera, stream, synthetic source or browser cameras, in real time',
    fields: [
      f('input', 'string', 'input', 'lavfi:testsrc2, /dev/video0, camera:0, a URL, a file, or browser', { required: true }),
      f('size', 'string', 'size', 'working and output size WxH'),
      f('fps', 'number', 'fps', 'frame rate to hold'),
      f('loop', 'boolean', 'loop', 'play a file input in a loop'),
      f('adapt', 'boolean', 'adapt', 'lower steps and resolution to hold fps', { negation: 'no-adapt', onlyNegation: true }),
    ],
  },
  { kind: 'dream', section: 'stages', help: 'DeepDream every frame', fields: DREAM_FIELDS },
  {
    kind: 'temporal',
    section: 'stages',
    help: 'carry the dream along the optical flow from frame to frame',
    fields: [
      f('flow', 'boolean', 'flow', 'false dreams every frame from scratch (the flickering baseline)', { negation: 'no-flow' }),
      f('blend', 'number', 'blend', 'share of the previous dream carried, 0-1'),
      f('frameIterations', 'integer', 'frame-iterations', 'steps per octave on carried frames'),
      f('flowWidth', 'integer', 'flow-width', 'width the optical flow is estimated at'),
    ],
  },
  {
    kind: 'vr',
    section: 'stages',
    help: '360° panorama handling: wrap-around, cubemap, stereo, spherical metadata',
    fields: [
      f('projection', 'string', 'projection', 'equirect or cubemap', { values: ['equirect', 'cubemap'] }),
      f('stereo', 'string', 'stereo', 'mono, top-bottom or left-right', { values: ['mono', 'top-bottom', 'left-right'] }),
      f('eyeIterations', 'integer', 'eye-iterations', 'steps per octave refining the dream carried from the left eye to the right'),
      f('faststart', 'boolean', 'faststart', 'false writes the MP4 index after the media (moov last)', { negation: 'no-faststart' }),
    ],
  },
  { kind: 'image', section: 'sinks', help: 'an image file', fields: [f('path', 'string', 'output', 'output image', { required: true })] },
  { kind: 'folder', section: 'sinks', help: 'a folder of images', fields: [f('path', 'string', 'output', 'output folder', { required: true })] },
  {
    kind: 'video',
    section: 'sinks',
    help: 'a video file with the source audio',
    fields: [
      f('path', 'string', 'output', 'output video', { required: true }),
      f('codec', 'string', 'codec', 'video encoder'),
      f('crf', 'integer', 'crf', 'quality, lower is better'),
    ],
  },
  {
    kind: 'viewers',
    section: 'sinks',
    help: 'the HTTP + WebSocket viewer hub',
    fields: [
      f('port', 'integer', 'port', 'HTTP and WebSocket port'),
      f('host', 'string', 'host', 'address to listen on'),
      f('token', 'string', 'token', 'needed to change settings and share a camera'),
      f('viewerToken', 'string', 'viewer-token', 'needed to watch'),
      f('allowOrigin', 'strings', 'allow-origin', 'extra browser origins to accept'),
    ],
  },
  { kind: 'record', section: 'sinks', help: 'record the live stream', fields: [f('path', 'string', 'record', 'output video', { required: true })] },
  { kind: 'push', section: 'sinks', help: 'stream the live output', fields: [f('url', 'string', 'push', 'rtmp://, srt://, udp:// or an HLS .m3u8', { required: true })] },
];

/** The commands a config can become, by the kinds in it. */
export type PresetCommand = 'image' | 'stills' | 'video' | 'vr' | 'live';

interface Shape {
  command: PresetCommand;
  source: string;
  stages: readonly string[];
  /** Optional stages (may be left out of the config). */
  optionalStages?: readonly string[];
  sinks: readonly string[];
  /** Sinks that may be added once each. */
  optionalSinks?: readonly string[];
}

const SHAPES: readonly Shape[] = [
  { command: 'image', source: 'image', stages: ['dream'], sinks: ['image'] },
  { command: 'stills', source: 'folder', stages: ['dream'], sinks: ['folder'] },
  { command: 'video', source: 'video', stages: ['dream'], optionalStages: ['temporal'], sinks: ['video'] },
  { command: 'vr', source: 'video', stages: ['dream', 'vr'], optionalStages: ['temporal'], sinks: ['video'] },
  { command: 'live', source: 'live', stages: ['dream'], optionalStages: ['temporal'], sinks: ['viewers'], optionalSinks: ['record', 'push'] },
];

export type FieldValue = string | number | boolean | string[];
export interface SectionConfig {
  kind: string;
  [field: string]: FieldValue;
}
export interface PipelineConfig {
  description?: string;
  source: SectionConfig;
  stages: SectionConfig[];
  sinks: SectionConfig[];
}

function specOf(section: SectionName, kind: string): SectionSpec | undefined {
  return SECTIONS.find((s) => s.section === section && s.kind === kind);
}

function typeName(v: unknown): string {
  return Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function expected(field: FieldSpec): string {
  if (field.values) return `one of ${field.values.join(', ')}`;
  return { string: 'a string', number: 'a number', integer: 'a whole number', boolean: 'true or false', strings: 'an array of strings' }[field.kind];
}

function fitsKind(field: FieldSpec, v: unknown): boolean {
  switch (field.kind) {
    case 'string':
      return typeof v === 'string' && (!field.values || field.values.includes(v));
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'strings':
      return Array.isArray(v) && v.every((s) => typeof s === 'string');
  }
}

function validateSection(value: unknown, section: SectionName, path: string, errors: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push(`${path}: expected an object with a "kind", got ${typeName(value)}`);
    return;
  }
  const obj = value as Record<string, unknown>;
  const kinds = SECTIONS.filter((s) => s.section === section).map((s) => s.kind);
  if (typeof obj.kind !== 'string') {
    errors.push(`${path}.kind: expected one of ${kinds.join(', ')}, got ${typeName(obj.kind)}`);
    return;
  }
  const spec = specOf(section, obj.kind);
  if (!spec) {
    errors.push(`${path}.kind: unknown ${section === 'stages' ? 'stage' : section === 'sinks' ? 'sink' : 'source'} "${obj.kind}" (expected one of ${kinds.join(', ')})`);
    return;
  }
  for (const [name, v] of Object.entries(obj)) {
    if (name === 'kind') continue;
    const field = spec.fields.find((x) => x.name === name);
    if (!field) {
      const known = spec.fields.map((x) => x.name);
      errors.push(`${path}.${name}: unknown field of a ${spec.kind} ${section === 'source' ? 'source' : section.slice(0, -1)} (did you mean ${nearestNames(name, known, 2).join(' or ')}?)`);
    } else if (!fitsKind(field, v)) {
      errors.push(`${path}.${name}: expected ${expected(field)}, got ${typeName(v)}`);
    }
  }
  for (const field of spec.fields) {
    if (field.required && obj[field.name] === undefined) errors.push(`${path}.${field.name}: required (${field.help})`);
  }
}

/** The preset command a config's kinds make up, or a message saying which graphs exist. */
function shapeOf(config: PipelineConfig): Shape | string {
  const stages = config.stages.map((s) => s.kind);
  const sinks = config.sinks.map((s) => s.kind);
  for (const shape of SHAPES) {
    if (shape.source !== config.source.kind) continue;
    const stagesOk =
      shape.stages.every((k) => stages.includes(k)) &&
      stages.every((k) => shape.stages.includes(k) || shape.optionalStages?.includes(k)) &&
      new Set(stages).size === stages.length;
    const sinksOk =
      shape.sinks.every((k) => sinks.includes(k)) &&
      sinks.every((k) => shape.sinks.includes(k) || shape.optionalSinks?.includes(k)) &&
      new Set(sinks).size === sinks.length;
    if (stagesOk && sinksOk) return shape;
  }
  const known = SHAPES.map(
    (s) => `${s.source} → ${[...s.stages, ...(s.optionalStages ?? []).map((k) => `[${k}]`)].join(' → ')} → ${[...s.sinks, ...(s.optionalSinks ?? []).map((k) => `[${k}]`)].join(' + ')}`,
  );
  return `no runner for ${config.source.kind} → ${stages.join(' → ') || '(no stages)'} → ${sinks.join(' + ') || '(no sinks)'}; the graphs that run are: ${known.join('; ')}`;
}

/**
 * Check a parsed JSON document against the schema; every problem is reported with the path of
 * the field and what was expected, e.g. `stages[0].iterations: expected a whole number, got string "ten"`.
 */
export function validateConfig(doc: unknown, label = 'pipeline'): PipelineConfig {
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
  if (errors.length === 0) {
    const shape = shapeOf(obj as unknown as PipelineConfig);
    if (typeof shape === 'string') errors.push(shape);
  }
  if (errors.length > 0) throw new UserError(`${label}: ${errors.join('; ')}`);
  return obj as unknown as PipelineConfig;
}

/** The subcommand and flags that run a (validated) config, and which field each flag came from. */
export function argsFromConfig(config: PipelineConfig): { command: PresetCommand; args: string[]; fieldOfFlag: Map<string, string> } {
  const shape = shapeOf(config);
  if (typeof shape === 'string') throw new UserError(shape);
  const args: string[] = [];
  const fieldOfFlag = new Map<string, string>();
  const emit = (item: SectionConfig, section: SectionName, path: string): void => {
    const spec = specOf(section, item.kind)!;
    for (const field of spec.fields) {
      const v = item[field.name];
      if (v === undefined) continue;
      const where = `${path}.${field.name}`;
      if (field.flag === '') {
        args.unshift(String(v));
        continue;
      }
      if (field.kind === 'boolean') {
        const flag = v ? (field.onlyNegation ? undefined : field.flag) : field.negation;
        if (flag) {
          args.push(`--${flag}`);
          fieldOfFlag.set(flag, where);
        }
      } else if (field.kind === 'strings') {
        for (const s of v as string[]) args.push(`--${field.flag}`, s);
        fieldOfFlag.set(field.flag, where);
      } else {
        args.push(`--${field.flag}`, String(v));
        fieldOfFlag.set(field.flag, where);
      }
    }
  };
  emit(config.source, 'source', 'source');
  config.stages.forEach((s, i) => emit(s, 'stages', `stages[${i}]`));
  config.sinks.forEach((s, i) => emit(s, 'sinks', `sinks[${i}]`));
  return { command: shape.command, args, fieldOfFlag };
}

/** Which sections a preset command's flags fill, in config order. */
const COMMAND_SECTIONS: Record<PresetCommand, { source: string; stages: string[]; sinks: string[] }> = {
  image: { source: 'image', stages: ['dream'], sinks: ['image'] },
  stills: { source: 'folder', stages: ['dream'], sinks: ['folder'] },
  video: { source: 'video', stages: ['dream', 'temporal'], sinks: ['video'] },
  vr: { source: 'video', stages: ['dream', 'temporal', 'vr'], sinks: ['video'] },
  live: { source: 'live', stages: ['dream', 'temporal'], sinks: ['viewers', 'record', 'push'] },
};

export function isPresetCommand(name: string): name is PresetCommand {
  return name in COMMAND_SECTIONS;
}

/** Flags about how to run, not what to run: they stay flags of `dreamflow run` too. */
export const RUN_FLAGS: readonly string[] = ['--json', '--quiet', '--resume', '--print-config'];

/**
 * The config a subcommand's flags describe (for `--print-config`): each flag lands in the field
 * the table names. Flags of other commands are refused like the subcommand refuses them.
 */
export function configFromArgs(command: PresetCommand, args: readonly string[]): PipelineConfig {
  const layout = COMMAND_SECTIONS[command];
  const sections: Array<{ spec: SectionSpec; item: SectionConfig }> = [];
  const source = { spec: specOf('source', layout.source)!, item: { kind: layout.source } as SectionConfig };
  sections.push(source);
  const stages = layout.stages.map((k) => ({ spec: specOf('stages', k)!, item: { kind: k } as SectionConfig }));
  const sinks = layout.sinks.map((k) => ({ spec: specOf('sinks', k)!, item: { kind: k } as SectionConfig }));
  sections.push(...stages, ...sinks);
  const byFlag = new Map<string, { field: FieldSpec; item: SectionConfig; value?: boolean }>();
  for (const { spec, item } of sections) {
    for (const field of spec.fields) {
      if (field.flag === '') continue;
      if (field.kind === 'boolean') {
        if (!field.onlyNegation) byFlag.set(field.flag, { field, item, value: true });
        if (field.negation) byFlag.set(field.negation, { field, item, value: false });
      } else byFlag.set(field.flag, { field, item });
    }
  }
  const positional = sections.find((s) => s.spec.fields.some((x) => x.flag === ''));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (RUN_FLAGS.includes(arg)) continue;
    if (!arg.startsWith('-')) {
      const field = positional?.spec.fields.find((x) => x.flag === '');
      if (!field || positional!.item[field.name] !== undefined) throw new UserError(`unexpected argument "${arg}"`);
      positional!.item[field.name] = arg;
      continue;
    }
    const eq = arg.indexOf('=');
    let name = (eq > 0 ? arg.slice(0, eq) : arg).replace(/^--?/, '');
    if (name === 'o') name = 'output';
    if (name === 'i') name = 'input';
    const target = byFlag.get(name);
    if (!target) throw new UserError(`${command}: option --${name} has no pipeline field (it is not part of the ${command} preset)`);
    const { field, item } = target;
    if (field.kind === 'boolean') {
      item[field.name] = target.value!;
      continue;
    }
    const raw = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (raw === undefined) throw new UserError(`option --${name} needs a value`);
    if (field.kind === 'strings') item[field.name] = [...((item[field.name] as string[] | undefined) ?? []), raw];
    else if (field.kind === 'number' || field.kind === 'integer') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new UserError(`--${name} must be a number (got "${raw}")`);
      item[field.name] = n;
    } else item[field.name] = raw;
  }
  // Optional sinks only appear when given (a live job records only with --record).
  const keep = (s: { spec: SectionSpec; item: SectionConfig }): boolean =>
    Object.keys(s.item).length > 1 || !['record', 'push'].includes(s.spec.kind) || s.spec.section !== 'sinks';
  return {
    source: source.item,
    stages: stages.map((s) => s.item),
    sinks: sinks.filter(keep).map((s) => s.item),
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
  let node: unknown = doc;
  for (const [i, key] of keys.entries()) {
    const last = i === keys.length - 1;
    if (typeof node !== 'object' || node === null) throw new UserError(`--set ${path}: ${keys.slice(0, i).join('.')} is not an object or array`);
    const container = node as Record<string, unknown>;
    if (last) container[key] = value;
    else node = container[key];
  }
}

/** A JSON Schema (draft 2020-12) of pipeline files, for editors; generated from the same table. */
export function jsonSchema(): Record<string, unknown> {
  const property = (field: FieldSpec): Record<string, unknown> => {
    const base: Record<string, unknown> = { description: `${field.help}${field.flag ? ` (--${field.flag})` : ' (the positional argument)'}` };
    if (field.kind === 'strings') return { ...base, type: 'array', items: { type: 'string' } };
    if (field.values) return { ...base, enum: field.values };
    return { ...base, type: field.kind };
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

/** Defaults of each command, as the commands apply them (so --print-config shows what runs). */
function defaultsFor(command: PresetCommand, section: SectionName, kind: string, model: string): Record<string, FieldValue> {
  const live = command === 'live';
  const dream = live ? LIVE_DREAM : DEFAULT_DREAM;
  const temporal = live ? LIVE_TEMPORAL : DEFAULT_TEMPORAL;
  switch (`${section}:${kind}`) {
    case 'stages:dream':
      return {
        model,
        layer: loadManifest(model).defaultLayer,
        octaves: dream.octaves,
        octaveScale: dream.octaveScale,
        iterations: dream.iterations,
        step: dream.step,
        jitter: dream.jitter,
        tile: dream.tile,
        seed: dream.seed,
        backend: 'auto',
      };
    case 'stages:temporal':
      return live
        ? { blend: temporal.blend, frameIterations: temporal.frameIterations }
        : { flow: temporal.flow, blend: temporal.blend, frameIterations: temporal.frameIterations, flowWidth: temporal.flowMaxWidth };
    case 'stages:vr':
      return { projection: 'equirect', stereo: 'mono' };
    case 'sinks:video':
      return { codec: 'libx264', crf: 18 };
    case 'source:live':
      return { size: '320x180', fps: 10, loop: false, adapt: true };
    case 'sinks:viewers':
      return { port: 8080, host: '127.0.0.1' };
    default:
      return {};
  }
}

/** The config with every default the command would apply written out (`--print-config`). */
export function effectiveConfig(config: PipelineConfig): PipelineConfig {
  const { command } = argsFromConfig(config);
  const dreamStage = config.stages.find((s) => s.kind === 'dream');
  const model = typeof dreamStage?.model === 'string' ? dreamStage.model : DEFAULT_MODEL;
  const fill =
    (section: SectionName) =>
    ({ kind, ...given }: SectionConfig): SectionConfig => ({ kind, ...defaultsFor(command, section, kind, model), ...given });
  const stages = config.stages.map((stage) => {
    const filled = fill('stages')(stage);
    // A class or neuron objective stands alone unless layers are named: no default layer then.
    if (stage.kind === 'dream' && stage.layer === undefined && stage.channel === undefined && (stage.class !== undefined || stage.neuron !== undefined)) {
      delete filled.layer;
    }
    return filled;
  });
  // The video presets always carry the dream along the flow unless told not to.
  if ((command === 'video' || command === 'vr') && !stages.some((s) => s.kind === 'temporal')) {
    stages.splice(1, 0, fill('stages')({ kind: 'temporal' }));
  }
  return { ...(config.description ? { description: config.description } : {}), source: fill('source')(config.source), stages, sinks: config.sinks.map(fill('sinks')) };
}
