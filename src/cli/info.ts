import sharp from 'sharp';
import { UserError } from '../errors.js';
import { readProvenance, type Provenance } from '../sinks/provenance.js';
import { assertReadableFile } from '../sources/image.js';
import { parse } from './options.js';

export const INFO_HELP = `dreamflow info IMG [--json]

Print the settings an image was dreamed with (every image dreamflow writes carries them: a PNG
text chunk, a JPEG comment or the EXIF description), and the command that reproduces it.

      --json             print one JSON line: size, format and the embedded settings`;

const NAMED_ESCAPES: Record<string, string> = { '\x1b': '\\e', '\r': '\\r', '\n': '\\n', '\t': '\\t' };

/**
 * Text read from a file, made safe to print on a terminal: control characters (C0, DEL, C1) and
 * bidirectional overrides are shown as escapes, so a stored `\e[2K\r` cannot erase what is
 * printed before it and `\e]0;…` cannot retitle the terminal (docs/architecture.md, redaction).
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return NAMED_ESCAPES[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** `key: value` lines for the settings, nested objects flattened as `a.b` and arrays of objects as `a[0].b`. */
function lines(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) {
    return value.flatMap((v, i) => lines(v, `${prefix}[${i}]`));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const text = Array.isArray(value) ? value.map((v) => String(v)).join(', ') : String(value);
    return [`${prefix}: ${text}`];
  }
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => lines(v, prefix ? `${prefix}.${k}` : k));
}

export async function infoCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } });
  if (values.help) {
    console.log(INFO_HELP);
    return;
  }
  const path = positionals[0];
  if (!path) throw new UserError('info: missing image file (dreamflow info IMG)');
  await assertReadableFile(path, 'image');
  let meta;
  try {
    meta = await sharp(path).metadata();
  } catch (err) {
    throw new UserError(`${path} is not an image that can be read (${(err as Error).message.split('\n')[0]})`);
  }
  const settings: Provenance | undefined = await readProvenance(path);
  if (values.json) {
    console.log(JSON.stringify({ path, width: meta.width, height: meta.height, format: meta.format, settings: settings ?? null }));
    return;
  }
  console.log(printable(`${path}: ${meta.width}x${meta.height} ${meta.format}`));
  if (!settings) {
    console.log('no dreamflow settings in this file');
    return;
  }
  const { reproduce, axes, cells, ...rest } = settings;
  for (const line of lines(rest)) console.log(`  ${printable(line)}`);
  // A sweep sheet: its axes, then one line per cell (its recipe is in the JSON output).
  if (Array.isArray(axes)) {
    for (const a of axes as Array<{ flag: string; values: string[] }>) console.log(printable(`  axis --${String(a.flag)}: ${a.values.join(', ')}`));
  }
  if (Array.isArray(cells)) {
    for (const c of cells as Array<{ row: number; col: number; values: Record<string, string>; dreamGain: number | null }>) {
      const what = Object.entries(c.values)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      console.log(printable(`  cell ${c.row},${c.col}: ${what}; dream gain ${typeof c.dreamGain === 'number' ? c.dreamGain.toFixed(3) : 'n/a'}`));
    }
  }
  if (typeof reproduce === 'string') console.log(`reproduce: ${printable(reproduce)}`);
}
