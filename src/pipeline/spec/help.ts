/** `--help` of each preset command, generated from its sections' fields. */
import { COMMAND_LAYOUTS, RUN_FLAG_HELP, RUN_FLAG_SHORT, layoutSections, type PresetCommand } from './commands.js';

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
