import { UserError } from '../errors.js';
import { availableModels, DEFAULT_MODEL, loadManifest } from '../models/manifest.js';
import { locateWeights, progressPrinter, pullWeights } from '../models/weights.js';
import { parse, str } from './options.js';

export const MODELS_HELP = `dreamflow models list
dreamflow models pull [NAME] [--from URL]

list: the models dreamflow knows and where their weights were found.
pull: make sure a model's weights (default ${DEFAULT_MODEL}) are complete and verified: a folder that
already is (--weights DIR, DREAMFLOW_WEIGHTS, or ~/.cache/dreamflow, every file's SHA-256 checked)
is reported and nothing is fetched; otherwise the files missing from ~/.cache/dreamflow or not
matching their SHA-256 are downloaded and verified. --from (or DREAMFLOW_WEIGHTS_URL) replaces the
published base URL.`;

export async function modelsCommand(args: string[]): Promise<void> {
  const [verb = 'list', ...rest] = args;
  const { values, positionals } = parse(rest, { from: { type: 'string' }, weights: { type: 'string' } }, 1);
  if (values.help || verb === '--help' || verb === '-h') {
    console.log(MODELS_HELP);
    return;
  }
  if (verb === 'list') {
    for (const name of availableModels()) {
      const m = loadManifest(name);
      let where: string;
      try {
        where = await locateWeights(m, { download: false, weightsDir: str(values, 'weights') });
      } catch {
        where = 'not downloaded (dreamflow models pull ' + name + ')';
      }
      const mb = (m.files.reduce((s, f) => s + f.bytes, 0) / 1e6).toFixed(1);
      console.log(`${name.padEnd(16)} ${m.title} — ${mb} MB — ${where}`);
    }
    return;
  }
  if (verb === 'pull') {
    const m = loadManifest(positionals[0] ?? DEFAULT_MODEL);
    const r = await pullWeights(m, { weightsDir: str(values, 'weights'), baseUrl: str(values, 'from'), onProgress: progressPrinter(`downloading ${m.name}`) });
    const where = { weights: '--weights', env: 'DREAMFLOW_WEIGHTS', cache: 'the user cache' }[r.origin];
    if (r.fetched === 0) console.log(`${m.name}: complete, all ${m.files.length} files verified (SHA-256) in ${r.dir} (${where}); nothing to download`);
    else console.log(`${m.name}: ${r.fetched} file(s) downloaded and ${r.kept} kept, all ${m.files.length} verified (SHA-256) in ${r.dir}`);
    return;
  }
  throw new UserError(`models: unknown action "${verb}" (use list or pull)`);
}
