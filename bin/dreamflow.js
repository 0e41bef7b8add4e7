#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const mainJs = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(mainJs))) {
  process.stderr.write('dreamflow: not built yet; run "npm run build" in the dreamflow folder\n');
  process.exit(1);
}
const { main } = await import(mainJs.href);
process.exitCode = await main(process.argv.slice(2));
