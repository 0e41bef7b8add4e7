import sharp from 'sharp';
import { dream } from '../dream/deepdream.js';
import { layer } from '../dream/objectives.js';
import { createRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { dreamableLayers } from '../models/catalog.js';
import { loadManifest } from '../models/manifest.js';
import { Network } from '../models/network.js';
import { Progress } from '../pipeline/progress.js';
import { checkImageOutput, writeEncoded } from '../sinks/imageFile.js';
import { readImage } from '../sources/image.js';
import { parseSize } from '../media/size.js';
import { toBytes } from '../dream/image.js';
import { DREAM_OPTIONS, dreamSettings, parse, runnerOptions, str } from './options.js';
import { dreamflowVersion, runnerWorkers } from '../pipeline/recipe.js';

export const LAYERS_HELP = `dreamflow layers [--model NAME] [--json]
dreamflow layers --gallery OUT.png --input IMG [--layers a,b,c] [--size N] [dream options]

List the layers a model can dream with (name, type, channels), or render a labelled contact sheet
of one image dreamed at each layer (default: the model's recommended layers).`;

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export async function layersCommand(args: string[]): Promise<void> {
  const { values } = parse(
    args,
    { ...DREAM_OPTIONS, json: { type: 'boolean' }, gallery: { type: 'string' }, input: { type: 'string' }, layers: { type: 'string' }, size: { type: 'string' }, quiet: { type: 'boolean' } },
    0,
  );
  if (values.help) {
    console.log(LAYERS_HELP);
    return;
  }
  const manifest = loadManifest(str(values, 'model'));
  const gallery = str(values, 'gallery');
  if (!gallery) {
    const layers = dreamableLayers(manifest);
    if (values.json) {
      console.log(JSON.stringify({ model: manifest.name, defaultLayer: manifest.defaultLayer, layers }));
    } else {
      console.log(`${manifest.title} (${manifest.name}); default layer ${manifest.defaultLayer}`);
      for (const l of layers) console.log(`${l.name.padEnd(32)} ${l.type.padEnd(8)} ${String(l.channels).padStart(5)} channels`);
    }
    return;
  }
  const input = str(values, 'input');
  if (!input) throw new UserError('layers --gallery needs --input IMG');
  checkImageOutput(gallery);
  const names = (str(values, 'layers')?.split(',') ?? manifest.galleryLayers).map((n) => Network.resolveName(manifest, n.trim()));
  const settings = dreamSettings(values);
  const image = await readImage(input, parseSize(str(values, 'size') ?? '224'));
  const runner = await createRunner({ ...runnerOptions(values), quiet: Boolean(values.quiet) });
  const label = 22;
  const cols = Math.ceil(Math.sqrt(names.length));
  const rows = Math.ceil(names.length / cols);
  const cellW = image.width;
  const cellH = image.height + label;
  const progress = new Progress('gallery', names.length, Boolean(values.quiet), 'layers');
  try {
    const tiles: Array<{ input: Buffer; left: number; top: number }> = [];
    for (const [i, name] of names.entries()) {
      const out = await dream(runner, image, layer(name), settings);
      const left = (i % cols) * cellW;
      const top = Math.floor(i / cols) * cellH;
      const png = await sharp(Buffer.from(toBytes(out).buffer), { raw: { width: out.width, height: out.height, channels: 3 } }).png().toBuffer();
      const text = Buffer.from(
        `<svg width="${cellW}" height="${label}"><rect width="100%" height="100%" fill="#111"/>` +
          `<text x="4" y="${label - 6}" font-family="sans-serif" font-size="13" fill="#eee">${escapeXml(name)}</text></svg>`,
      );
      tiles.push({ input: png, left, top }, { input: text, left, top: top + out.height });
      progress.update(i + 1, name);
    }
    progress.done();
    const sheet = await sharp({ create: { width: cols * cellW, height: rows * cellH, channels: 3, background: '#000' } })
      .composite(tiles)
      .png()
      .toBuffer();
    // The gallery carries its settings like every output image (dreamflow info prints them).
    await writeEncoded(gallery, sharp(sheet), {
      dreamflow: dreamflowVersion(),
      command: 'layers',
      input,
      size: str(values, 'size') ?? '224',
      model: runner.manifest.name,
      backend: runner.backend,
      workers: runnerWorkers(runner),
      layers: names,
      settings,
    });
    if (!values.quiet) console.log(`wrote ${gallery} (${names.length} layers)`);
  } finally {
    await runner.close();
  }
}
