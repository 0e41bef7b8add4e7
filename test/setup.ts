import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

// The pretrained weights sit in ../shared/weights on development machines and in CI; the loader
// finds them through DREAMFLOW_WEIGHTS (never committed, never downloaded by tests).
const shared = resolve(import.meta.dirname, '..', '..', 'shared', 'weights');
if (!process.env.DREAMFLOW_WEIGHTS && existsSync(shared)) process.env.DREAMFLOW_WEIGHTS = shared;
