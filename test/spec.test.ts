/**
 * The spec's sections take their ranges and choices from the core (docs/architecture.md, "The
 * spec"): the help text, the JSON Schema and the core's own checks agree, and a value just outside
 * a range is refused by both the spec and the core. Settings are read by kind, typed, with defaults.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_DREAM, DREAM_LIMITS, validateSettings, type DreamSettings } from '../src/dream/deepdream.js';
import { BLUR_TARGETS, NO_PRIORS, PRIOR_LIMITS, validatePriors } from '../src/dream/priors.js';
import { BACKEND_REQUESTS, initBackend } from '../src/engine/backend.js';
import { ONNX_DEVICES } from '../src/engine/onnx/runtime.js';
import { START_KINDS, parseStartKind } from '../src/sources/synthetic.js';
import { STEREO_MODES } from '../src/vr/layout.js';
import { PROJECTIONS } from '../src/vr/stage.js';
import { section as viewersSink } from '../src/pipeline/sinks/viewers.js';
import { section as recordSink } from '../src/pipeline/sinks/record.js';
import { section as liveSource } from '../src/pipeline/sources/live.js';
import { section as videoSource } from '../src/pipeline/sources/video.js';
import { section as dreamStage } from '../src/pipeline/stages/dream.js';
import { section as temporalStage } from '../src/pipeline/stages/temporal.js';
import { helpFor, jsonSchema, sinkSettings, sourceSettings, specFromArgs, stageSettings, validateSpec, type PresetCommand } from '../src/pipeline/spec.js';

type Schema = Record<string, unknown>;

/** The schema of one field of one kind: `stages`, `dream`, `octaves`. */
function schemaOf(list: 'source' | 'stages' | 'sinks', kind: string, field: string): Schema {
  const props = jsonSchema().properties as Record<string, Schema>;
  const variants = (list === 'source' ? props.source!.oneOf : (props[list]!.items as Schema).oneOf) as Schema[];
  const variant = variants.find((v) => (v.properties as Record<string, Schema>).kind!.const === kind)!;
  return (variant.properties as Record<string, Schema>)[field]!;
}

/** The help line of a flag in a command's --help. */
function helpLine(command: PresetCommand, flag: string): string {
  return helpFor(command)
    .split('\n')
    .find((l) => l.trimStart().startsWith(`--${flag} `))!;
}

const videoSpec = (dream: Record<string, unknown>) => ({ source: { kind: 'video', path: 'a.mp4' }, stages: [{ kind: 'dream', ...dream }], sinks: [{ kind: 'video', path: 'b.mp4' }] });

describe('ranges: the core, the schema and the help agree', () => {
  const integerRanges = ['octaves', 'iterations', 'jitter', 'tile'] as const;

  it.each(integerRanges)('%s: the schema and --help show the core range, and both refuse one past it', (name) => {
    const { min, max } = DREAM_LIMITS[name];
    const flag = name;
    expect(schemaOf('stages', 'dream', name)).toMatchObject({ type: 'integer', minimum: min, maximum: max });
    expect(helpLine('video', flag)).toContain(`[${min}-${max}]`);
    // The core takes the edges and refuses one step past them.
    const settings = (v: number): DreamSettings => ({ ...DEFAULT_DREAM, [name]: v });
    expect(() => validateSettings(settings(max))).not.toThrow();
    expect(() => validateSettings(settings(min))).not.toThrow();
    expect(() => validateSettings(settings(max + 1))).toThrow(`--${flag} must be an integer from ${min} to ${max}`);
    expect(() => validateSettings(settings(min - 1))).toThrow(`--${flag} must be an integer from ${min} to ${max}`);
    // The spec refuses the same value, naming the same range.
    expect(() => validateSpec(videoSpec({ [name]: max + 1 }))).toThrow(`expected a whole number from ${min} to ${max}, got number ${max + 1}`);
    expect(() => validateSpec(videoSpec({ [name]: max }))).not.toThrow();
  });

  it('step and octave scale: the upper bound is the core’s, and the core refuses what the spec refuses', () => {
    expect(schemaOf('stages', 'dream', 'step').maximum).toBe(DREAM_LIMITS.step.max);
    expect(schemaOf('stages', 'dream', 'octaveScale').maximum).toBe(DREAM_LIMITS.octaveScale.max);
    // The fields' smallest values lie above the core's exclusive bounds.
    expect(schemaOf('stages', 'dream', 'step').minimum).toBeGreaterThan(DREAM_LIMITS.step.above);
    expect(schemaOf('stages', 'dream', 'octaveScale').minimum).toBeGreaterThan(DREAM_LIMITS.octaveScale.above);
    expect(() => validateSettings({ ...DEFAULT_DREAM, step: DREAM_LIMITS.step.max * 1.01 })).toThrow('--step must be above 0 and at most 100');
    expect(() => validateSpec(videoSpec({ step: DREAM_LIMITS.step.max * 1.01 }))).toThrow('stages[0].step (--step): expected a number from 0.0001 to 100');
  });

  it('priors: --tv and --blur take the core’s ranges', () => {
    expect(schemaOf('stages', 'dream', 'tv')).toMatchObject({ minimum: PRIOR_LIMITS.tv.min, maximum: PRIOR_LIMITS.tv.max });
    expect(helpLine('image', 'tv')).toContain(`[${PRIOR_LIMITS.tv.min}-${PRIOR_LIMITS.tv.max}]`);
    expect(() => validatePriors({ ...NO_PRIORS, tv: PRIOR_LIMITS.tv.max + 1 })).toThrow(`--tv must be from 0 to ${PRIOR_LIMITS.tv.max}`);
    expect(() => validateSpec(videoSpec({ tv: PRIOR_LIMITS.tv.max + 1 }))).toThrow(`expected a number from 0 to ${PRIOR_LIMITS.tv.max}`);
    const past = PRIOR_LIMITS.blur.max + 1;
    expect(() => validatePriors({ ...NO_PRIORS, blur: past })).toThrow(`--blur sigma must be from 0 to ${PRIOR_LIMITS.blur.max} pixels`);
    expect(() => validateSpec(videoSpec({ blur: String(past) }))).toThrow(`sigma in pixels (0-${PRIOR_LIMITS.blur.max})`);
    expect(() => validateSpec(videoSpec({ blur: String(PRIOR_LIMITS.blur.max) }))).not.toThrow();
  });
});

describe('choices: the core, the schema and the help agree', () => {
  const choices: Array<[string, 'source' | 'stages', string, string, readonly string[], PresetCommand]> = [
    ['backend', 'stages', 'dream', 'backend', BACKEND_REQUESTS, 'video'],
    ['device', 'stages', 'dream', 'device', ONNX_DEVICES, 'video'],
    ['blurTarget', 'stages', 'dream', 'blur-target', BLUR_TARGETS, 'image'],
    ['projection', 'stages', 'vr', 'projection', PROJECTIONS, 'vr'],
    ['stereo', 'stages', 'vr', 'stereo', STEREO_MODES, 'vr'],
    ['from', 'source', 'image', 'from', START_KINDS, 'image'],
  ];

  it.each(choices)('%s: the schema enum and --help list the core’s values', (name, list, kind, flag, values, command) => {
    expect(schemaOf(list, kind, name).enum).toEqual([...values]);
    expect(helpLine(command, flag)).toContain(`--${flag} ${values.join('|')}`);
  });

  it('a value off the list is refused by the spec and by the core alike', async () => {
    expect(() => validateSpec(videoSpec({ backend: 'cuda' }))).toThrow(`expected one of ${BACKEND_REQUESTS.join(', ')}, got string "cuda"`);
    await expect(initBackend('cuda' as never)).rejects.toThrow(`unknown backend "cuda": use one of ${BACKEND_REQUESTS.join(', ')}`);
    expect(() => specFromArgs('image', ['--from', 'white', '-o', 'x.png'])).toThrow(`--from must be one of ${START_KINDS.join(', ')}`);
    expect(() => parseStartKind('white')).toThrow('--from must be noise or gray');
  });
});

describe('settings by kind', () => {
  it('fills defaults for the source: a live temporal stage carries more than a video one', () => {
    const live = specFromArgs('live', ['--input', 'lavfi:testsrc2']).spec;
    const video = specFromArgs('video', ['a.mp4', '-o', 'b.mp4']).spec;
    const liveTemporal = stageSettings(live, temporalStage)!;
    const videoTemporal = stageSettings(video, temporalStage)!;
    expect(liveTemporal.blend).toBeGreaterThan(videoTemporal.blend);
    expect(stageSettings(video, dreamStage)!.iterations).toBe(DEFAULT_DREAM.iterations);
    expect(sourceSettings(live, liveSource)!.size).toBe('320x180');
    // Another kind's source is not this one's.
    expect(sourceSettings(live, videoSource)).toBeUndefined();
    expect(sourceSettings(video, videoSource)!.path).toBe('a.mp4');
  });

  it('finds a sink by its kind wherever it stands in the list', () => {
    const spec = validateSpec({
      source: { kind: 'live', input: 'lavfi:testsrc2' },
      stages: [{ kind: 'dream' }],
      sinks: [
        { kind: 'record', path: 'r.mp4' },
        { kind: 'viewers', port: 0 },
      ],
    });
    expect(sinkSettings(spec, viewersSink)).toMatchObject({ kind: 'viewers', port: 0, host: '127.0.0.1', viewersPerAddress: 8 });
    expect(sinkSettings(spec, recordSink)!.path).toBe('r.mp4');
  });
});
