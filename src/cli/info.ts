import sharp from 'sharp';
import { UserError } from '../errors.js';
import { readProvenance, type Provenance } from '../sinks/provenance.js';
import { assertReadableFile } from '../sources/image.js';
import { parse } from './options.js';

export const INFO_HELP = `dreamflow info IMG [--json]

Print the settings an image was dreamed with (every image dreamflow writes carries them: a PNG
text chunk, a JPEG comment or the EXIF description), and the command that reproduces it.

      --json             print one JSON line: size, format and the embedded settings`;

/** `key: value` lines for the settings, nested objects flattened as `a.b`. */
function lines(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const text = Array.isArray(value) ? value.join(', ') : String(value);
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
  console.log(`${path}: ${meta.width}x${meta.height} ${meta.format}`);
  if (!settings) {
    console.log('no dreamflow settings in this file');
    return;
  }
  const { reproduce, axes, cells, ...rest } = settings;
  for (const line of lines(rest)) console.log(`  ${line}`);
  // A sweep sheet: its axes, then one line per cell (its recipe is in the JSON output).
  if (Array.isArray(axes)) {
    for (const a of axes as Array<{ flag: string; values: string[] }>) console.log(`  axis --${a.flag}: ${a.values.join(', ')}`);
  }
  if (Array.isArray(cells)) {
    for (const c of cells as Array<{ row: number; col: number; values: Record<string, string>; dreamGain: number | null }>) {
      const what = Object.entries(c.values)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      console.log(`  cell ${c.row},${c.col}: ${what}; dream gain ${c.dreamGain === null ? 'n/a' : c.dreamGain.toFixed(3)}`);
    }
  }
  if (typeof reproduce === 'string') console.log(`reproduce: ${reproduce}`);
}
