import { UserError } from '../errors.js';
import { availableModels, DEFAULT_MODEL, loadManifest } from '../models/manifest.js';
import { downloadWeights, locateWeights, progressPrinter } from '../models/weights.js';
import { parse, str } from './options.js';

export const MODELS_HELP = `dreamflow models list
dreamflow models pull [NAME] [--from URL]

list: the models dreamflow knows and where their weights were found.
pull: download a model's weights (default ${DEFAULT_MODEL}) into ~/.cache/dreamflow, verifying
every file's SHA-256. --from (or DREAMFLOW_WEIGHTS_URL) replaces the published base URL.`;

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
    const dir = await downloadWeights(m, { baseUrl: str(values, 'from'), onProgress: progressPrinter(`downloading ${m.name}`) });
    console.log(`${m.name}: ${m.files.length} files verified in ${dir}`);
    return;
  }
  throw new UserError(`models: unknown action "${verb}" (use list or pull)`);
}
