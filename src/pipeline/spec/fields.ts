/**
 * The field builders of the spec (docs/architecture.md, "The spec"): each kind's module (a
 * source, a stage, a sink) declares its section with them, and the section's settings type is
 * inferred from the builders, so no interface restates a section. Nothing here knows a kind.
 */
import { parseSize } from '../../media/size.js';
import type { Schedule } from '../schedule.js';

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'strings' | 'keyframes';
export type FieldValue = string | number | boolean | string[] | Schedule;
/** The source kinds (each a module under pipeline/sources/). */
export const SOURCE_KINDS = ['image', 'folder', 'video', 'live', 'zoom'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];
export type SectionName = 'source' | 'stages' | 'sinks';
export type Role = 'source' | 'stage' | 'sink';

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

/** Whether a settings type has the field for sure (required or defaulted) or may lack it. */
type Presence = 'always' | 'optional';

/** A field that carries its name, value type and presence in its type (for SettingsOf). */
export interface Field<N extends string, V extends FieldValue, P extends Presence> extends FieldSpec {
  name: N;
  /** Never set: the value type, for inference only. */
  readonly valueType?: V;
  /** Never set: the presence, for inference only. */
  readonly presence?: P;
}

/** A section with every value in place: given, else its default for the source. */
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

export interface SectionSpec {
  kind: string;
  section: SectionName;
  help: string;
  fields: readonly FieldSpec[];
  /** The section as given, completed before defaults apply (a dream stage's named look). */
  expand?: (given: SectionConfig) => SectionConfig;
  /** What `--print-config` adds once defaults are in (`source`: the filled source section). */
  complete?: (filled: SectionConfig, given: SectionConfig, source: SectionConfig) => void;
}

export interface Section<K extends string, R extends Role, F extends readonly FieldSpec[]> extends SectionSpec {
  kind: K;
  role: R;
  fields: F;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type NameOf<F> = F extends Field<infer N, FieldValue, Presence> ? N : never;
type ValueOf<F> = F extends Field<string, infer V, Presence> ? V : never;
type Optional<F> = F extends Field<string, FieldValue, 'optional'> ? F : never;
type Always<F> = F extends Field<string, FieldValue, 'always'> ? F : never;

/**
 * A section's settings with defaults applied, inferred from its fields: required and defaulted
 * fields are always there, the others may be absent.
 */
export type SettingsOf<S> =
  S extends Section<infer K, Role, infer F>
    ? Simplify<{ kind: K } & { [X in Always<F[number]> as NameOf<X>]: ValueOf<X> } & { [X in Optional<F[number]> as NameOf<X>]?: ValueOf<X> }>
    : never;

interface Options<V extends FieldValue> {
  /** The flag, when it is not the name in kebab-case; `''` for the positional argument. */
  flag?: string;
  short?: string;
  aliases?: readonly string[];
  shownDefault?: string;
  required?: boolean;
  default?: V | ((source: SourceKind) => V);
  check?: (value: FieldValue) => string | undefined;
}
interface NumberOptions extends Options<number> {
  min?: number;
  max?: number;
  clock?: boolean;
}
interface BooleanOptions extends Options<boolean> {
  negation?: string;
  onlyNegation?: boolean;
}
type PresenceOf<O> = O extends { required: true } ? 'always' : O extends { default: unknown } ? 'always' : 'optional';

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function build<N extends string, V extends FieldValue, P extends Presence>(name: N, kind: FieldKind, help: string, opts: Omit<Partial<FieldSpec>, 'name' | 'kind' | 'help'>): Field<N, V, P> {
  const { flag, ...rest } = opts;
  return { name, kind, flag: flag ?? kebab(name), help, ...rest };
}

export const integer = <const N extends string, const O extends NumberOptions = {}>(name: N, help: string, opts?: O): Field<N, number, PresenceOf<O>> =>
  build(name, 'integer', help, opts ?? {});
export const number = <const N extends string, const O extends NumberOptions = {}>(name: N, help: string, opts?: O): Field<N, number, PresenceOf<O>> =>
  build(name, 'number', help, opts ?? {});
export const string = <const N extends string, const O extends Options<string> = {}>(name: N, help: string, opts?: O): Field<N, string, PresenceOf<O>> =>
  build(name, 'string', help, opts ?? {});
export const boolean = <const N extends string, const O extends BooleanOptions = {}>(name: N, help: string, opts?: O): Field<N, boolean, PresenceOf<O>> =>
  build(name, 'boolean', help, opts ?? {});
export const strings = <const N extends string>(name: N, help: string, opts: Options<string[]> = {}): Field<N, string[], 'optional'> => build(name, 'strings', help, opts);
export const keyframes = <const N extends string>(name: N, help: string, opts: Options<Schedule> = {}): Field<N, Schedule, 'optional'> => build(name, 'keyframes', help, opts);
/** A string field taking one of `values` (a core's exported list, so the two never differ). */
export const choice = <const N extends string, const V extends string, const O extends Options<V> = {}>(name: N, values: readonly V[], help: string, opts?: O): Field<N, V, PresenceOf<O>> =>
  build(name, 'string', help, { values, ...(opts ?? {}) });

/** A section of the spec, its settings type inferred from its fields (`SettingsOf<typeof section>`). */
export function defineSection<const K extends string, const R extends Role, const F extends readonly FieldSpec[]>(def: {
  kind: K;
  role: R;
  help: string;
  fields: F;
  expand?: SectionSpec['expand'];
  complete?: SectionSpec['complete'];
}): Section<K, R, F> {
  const section: SectionName = def.role === 'source' ? 'source' : def.role === 'stage' ? 'stages' : 'sinks';
  return { ...def, section };
}

/** A default that differs for live sources (live jobs dream lighter). */
export const byLive =
  <T extends FieldValue>(live: T, other: T) =>
  (source: SourceKind): T =>
    source === 'live' ? live : other;

/** A field check from a parser that throws a UserError: its message without the flag. */
export const userCheck =
  (parse: (text: string) => unknown) =>
  (v: FieldValue): string | undefined => {
    try {
      parse(String(v));
      return undefined;
    } catch (err) {
      return (err instanceof Error ? err.message : String(err)).replace(/^--[\w-]+ /, '');
    }
  };

/** `-i IN` and `--input IN` name the positional input, as ffmpeg's habit has it. */
export const INPUT_ALIASES = ['i', 'input'] as const;

/** `--size` of the file sources: N, WxH or a video height name (media/size.ts). */
export const sizeField = <const O extends Options<string> = {}>(help: string, opts?: O): Field<'size', string, PresenceOf<O>> =>
  build('size', 'string', help, { check: userCheck(parseSize), ...(opts ?? {}) });
