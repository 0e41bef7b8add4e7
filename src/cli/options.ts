import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { DreamSettings } from '../dream/deepdream.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner, RunnerOptions } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { dreamFromSection, dreamSettingsOf, objectiveOf, runnerOptionsOf, type DreamSpec } from '../pipeline/dream.js';
import { flagOptions, sectionFromValues } from '../pipeline/spec.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** The dream stage's flags (from the spec table), for commands that are not presets (sweep, layers, metrics, worker). */
export const DREAM_OPTIONS = flagOptions('stages', 'dream');

export type Values = Record<string, string | boolean | undefined>;

/** parseArgs with one-line errors instead of exceptions with stacks. */
export function parse(args: string[], options: OptionSpec, maxPositionals = 1): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UserError((err as Error).message.replace(/\. To specify a positional argument.*$/, ''));
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UserError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  return { values: parsed.values as Values, positionals: parsed.positionals };
}

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function num(values: Values, name: string, fallback: number, check?: { integer?: boolean; min?: number; max?: number }): number {
  const raw = str(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  const range = `${check?.min ?? '-∞'} to ${check?.max ?? '∞'}`;
  if (raw.trim() === '' || !Number.isFinite(n)) throw new UserError(`--${name} must be a number (got "${raw}")`);
  if (check?.integer && !Number.isInteger(n)) throw new UserError(`--${name} must be a whole number (got ${raw})`);
  if ((check?.min !== undefined && n < check.min) || (check?.max !== undefined && n > check.max)) {
    throw new UserError(`--${name} must be from ${range} (got ${raw})`);
  }
  return n;
}

/** The dream stage these flags describe, checked by the spec table, defaults applied. */
export function dreamFromFlags(values: Values): DreamSpec {
  return dreamFromSection(sectionFromValues('stages', 'dream', values));
}

export function dreamSettings(values: Values): DreamSettings {
  return dreamSettingsOf(dreamFromFlags(values));
}

export function runnerOptions(values: Values): RunnerOptions {
  return runnerOptionsOf(dreamFromFlags(values));
}

/** The objective these flags describe (layer, channel, guide, class, neuron), checked against the model. */
export function objective(values: Values, runner: GradientRunner, imageSize?: { width: number; height: number }): Promise<Objective> {
  return objectiveOf(dreamFromFlags(values), runner, imageSize);
}
