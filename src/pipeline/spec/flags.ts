/**
 * Command-line flags into a spec: a preset command's (`specFromArgs`), and one section's for
 * commands that are not presets (`flagOptions`, `sectionFromValues`). Each flag is checked by the
 * same rules as its JSON field (validate.ts).
 */
import { UserError, editDistance } from '../../errors.js';
import { parseScheduleFlag, type Schedule } from '../schedule.js';
import { COMMAND_LAYOUTS, RUN_FLAG_HELP, RUN_FLAG_SHORT, layoutSections, type PresetCommand, type RunFlags } from './commands.js';
import type { FieldSpec, FieldValue, PipelineSpec, SectionConfig, SectionName, SectionSpec } from './fields.js';
import { sectionSpec } from './kinds.js';
import { expected, problemWith, validateSpec } from './validate.js';

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

interface Part {
  section: SectionName;
  spec: SectionSpec;
  item: SectionConfig;
}

/** Where a flag lands: a field of a section (`value`: what a boolean flag sets it to). */
interface FlagTarget {
  field: FieldSpec;
  item: SectionConfig;
  value?: boolean;
}

/** The run flags by name (long, `-h`, `-y`, `-n`). */
const RUN_FLAGS = new Map<string, keyof RunFlags>([
  ...RUN_FLAG_HELP.map(([k, flag]) => [flag, k] as [string, keyof RunFlags]),
  ['help', 'help'],
  ['h', 'help'],
  ...Object.entries(RUN_FLAG_SHORT).map(([k, short]) => [short, k] as [string, keyof RunFlags]),
]);

/** Every flag of a command's sections, with its short form and ffmpeg's spellings. */
function flagTargets(parts: readonly Part[]): Map<string, FlagTarget> {
  const byFlag = new Map<string, FlagTarget>();
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
  return byFlag;
}

/** One valued flag's text into its field: repeatable flags add up, others are parsed and checked. */
function setFlagValue(field: FieldSpec, item: SectionConfig, raw: string): void {
  const given = item[field.name];
  if (field.kind === 'strings') {
    item[field.name] = [...(Array.isArray(given) ? given : []), raw];
    return;
  }
  if (field.kind === 'keyframes') {
    item[field.name] = { ...(typeof given === 'object' && !Array.isArray(given) ? given : {}), ...scheduleOfFlags([raw]) };
    return;
  }
  const value = parseFlagValue(field, field.flag, raw);
  const problem = problemWith(field, value);
  if (problem) throw new UserError(`--${field.flag} ${problem.startsWith('expected') ? `must be ${problem.slice('expected '.length)}` : problem}`);
  item[field.name] = value;
}

function unknownFlag(command: PresetCommand, arg: string, name: string, parts: readonly Part[], byFlag: ReadonlyMap<string, FlagTarget>): UserError {
  const spelled = `${arg.startsWith('--') ? '--' : '-'}${name}`;
  const ffmpegSpelled = new Set(parts.flatMap((p) => p.spec.fields.flatMap((x) => [...(x.aliases ?? [])])));
  const near = suggestFlags(name, [...byFlag.keys(), ...RUN_FLAGS.keys()], ffmpegSpelled);
  return new UserError(`${command}: unknown option ${spelled}${near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : ''}; dreamflow ${command} --help lists every option`);
}

/**
 * The spec a preset command's flags describe: each flag lands in the field the table names, is
 * checked by the same rules as a JSON field, and is refused by name when the command has no such
 * field. Run flags (--json, --quiet, --resume, --print-config, --help) come back separately.
 */
export function specFromArgs(command: PresetCommand, args: readonly string[]): { spec: PipelineSpec; run: RunFlags } {
  const layout = COMMAND_LAYOUTS[command];
  const parts: Part[] = layoutSections(layout).map((p) => {
    const item: SectionConfig = { kind: p.spec.kind };
    return { ...p, item };
  });
  const byFlag = flagTargets(parts);
  const run: RunFlags = { json: false, quiet: false, resume: false, printConfig: false, help: false, overwrite: false, noOverwrite: false };
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
    const runKey = RUN_FLAGS.get(name);
    if (runKey) {
      if (eq > 0) throw new UserError(`--${name} takes no value`);
      run[runKey] = true;
      continue;
    }
    const target = byFlag.get(name);
    if (!target) throw unknownFlag(command, arg, name, parts, byFlag);
    const { field, item } = target;
    if (field.kind === 'boolean') {
      if (eq > 0) throw new UserError(`--${name} takes no value`);
      const other = booleansGiven.get(field);
      if (other !== undefined && other !== name) throw new UserError(`give either --${other} or --${name}, not both`);
      booleansGiven.set(field, name);
      item[field.name] = target.value!;
      continue;
    }
    const raw = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (field.flag === '') {
      // `-i IN`: the positional input by name.
      if (raw === undefined) throw new UserError(`option -${name} needs a value (the input)`);
      if (item[field.name] !== undefined) throw new UserError(`give the input once (got "${String(item[field.name])}" and "${raw}")`);
      item[field.name] = raw;
      continue;
    }
    if (raw === undefined) throw new UserError(`option --${field.flag} needs a value`);
    setFlagValue(field, item, raw);
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
