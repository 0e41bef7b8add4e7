/** `dreamflow live` as its own process for tests (run with `node --import tsx`), until main.ts registers it. */
import { liveCommand } from '../../src/cli/live.js';
import { reportError } from '../../src/cli/main.js';

liveCommand(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => process.exit(reportError(err)),
);
