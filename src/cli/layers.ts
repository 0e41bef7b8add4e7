import { UserError } from '../errors.js';
import { dreamableLayers } from '../models/catalog.js';
import { loadManifest } from '../models/manifest.js';
import { Network } from '../models/network.js';
import { renderGallery } from '../pipeline/gallery.js';
import { guardOutputs, overwritePolicy } from '../sinks/outputGuard.js';
import { interruptSignal } from './signals.js';
import { DREAM_OPTIONS, dreamFromFlags, parse, str } from './options.js';

export const LAYERS_HELP = `dreamflow layers [--model NAME] [--json]
dreamflow layers --gallery OUT.png --input IMG [--layers a,b,c] [--size N] [-y|-n] [dream options]

List the layers a model can dream with (name, type, channels), or render a labelled contact sheet
of one image dreamed at each layer (default: the model's recommended layers).`;

/** Objective flags of DREAM_OPTIONS that a gallery has no use for. */
const GALLERY_UNUSED = ['guide', 'layer', 'channel', 'class', 'class-score', 'neuron'] as const;

export async function layersCommand(args: string[]): Promise<void> {
  const { values } = parse(
    args,
    { ...DREAM_OPTIONS, json: { type: 'boolean' }, gallery: { type: 'string' }, input: { type: 'string' }, layers: { type: 'string' }, size: { type: 'string' }, quiet: { type: 'boolean' }, overwrite: { type: 'boolean', short: 'y' }, 'no-overwrite': { type: 'boolean', short: 'n' } },
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
  // Each cell dreams one whole layer: an objective flag would be silently ignored, so say so.
  const unused = GALLERY_UNUSED.find((flag) => values[flag] !== undefined);
  if (unused) throw new UserError(`layers --gallery does not use --${unused} (each cell dreams one whole layer; choose them with --layers)${unused === 'guide' ? ': use dreamflow image --guide' : ''}`);
  const names = (str(values, 'layers')?.split(',') ?? manifest.galleryLayers).map((n) => Network.resolveName(manifest, n.trim()));
  // The output guard (not the input, writable, -y to replace, locked) before any dreaming.
  const claim = await guardOutputs([{ path: gallery }], { inputs: [input], overwrite: overwritePolicy(Boolean(values.overwrite), Boolean(values['no-overwrite'])) });
  const interrupt = interruptSignal();
  try {
    await renderGallery({ output: gallery, input, size: str(values, 'size') ?? '224', layers: names, dream: dreamFromFlags(values), quiet: Boolean(values.quiet), signal: interrupt.signal });
  } finally {
    interrupt.release();
    claim.release();
  }
  if (!values.quiet) console.log(`wrote ${gallery} (${names.length} layers)`);
}
