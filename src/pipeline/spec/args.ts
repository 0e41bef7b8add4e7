/** The command line that remakes a spec (`argsOfSpec`): the inverse of specFromArgs. */
import { scheduleFlagOf, type Schedule } from '../schedule.js';
import { commandOf, type PresetCommand } from './commands.js';
import type { PipelineSpec, SectionConfig, SectionName } from './fields.js';
import { sectionSpec } from './kinds.js';

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
