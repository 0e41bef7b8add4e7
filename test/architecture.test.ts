/**
 * The dependency rules of docs/architecture.md, checked with dependency-cruiser against the
 * repository's own configuration (.dependency-cruiser.cjs): the tree obeys them, and a module
 * that breaks them is caught (the rules are tested, not just the tree).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../bench/fixtures/clips.js';
import { ROOT } from './helpers/paths.js';

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

async function cruise(cwd: string, paths: string[]): Promise<Violation[]> {
  const { cruise: run } = (await import('dependency-cruiser')) as unknown as {
    cruise: (paths: string[], options: Record<string, unknown>) => Promise<{ output: { summary: { violations: Violation[] } } }>;
  };
  const here = process.cwd();
  process.chdir(cwd);
  try {
    // The repository's own rules file, loaded the way the depcruise command loads it.
    const { createRequire } = await import('node:module');
    const config = createRequire(import.meta.url)(join(ROOT, '.dependency-cruiser.cjs')) as { forbidden: unknown[]; options: Record<string, unknown> };
    const options = { ...config.options, ruleSet: { forbidden: config.forbidden }, validate: true, tsConfig: undefined };
    const result = await run(paths, options);
    return result.output.summary.violations;
  } finally {
    process.chdir(here);
  }
}

describe('dependency rules', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await removeDir(d);
  });

  it('hold for src/ and bench/: no cycles, layers point down, nothing imports tests', async () => {
    const violations = await cruise(ROOT, ['src', 'bench']);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  it('catch a deliberately bad import: the engine reaching up into the command line, and a cycle', async () => {
    const dir = tempDir('dreamflow-deps-');
    dirs.push(dir);
    for (const folder of ['src/engine', 'src/cli', 'src/dream', 'src/flow']) mkdirSync(join(dir, folder), { recursive: true });
    writeFileSync(join(dir, 'src/cli/main.ts'), 'export const main = 1;\n');
    writeFileSync(join(dir, 'src/engine/backend.ts'), "import { main } from '../cli/main.js';\nexport const backend = main;\n");
    writeFileSync(join(dir, 'src/dream/a.ts'), "import { b } from './b.js';\nexport const a = () => b;\n");
    writeFileSync(join(dir, 'src/dream/b.ts'), "import { a } from './a.js';\nexport const b = () => a;\n");
    writeFileSync(join(dir, 'src/flow/warp.ts'), "import { a } from '../dream/a.js';\nexport const warp = a;\n");
    const violations = await cruise(dir, ['src']);
    const rules = violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(rules).toContain('layer-engine: src/engine/backend.ts → src/cli/main.ts');
    expect(rules.some((r) => r.startsWith('no-circular: src/dream/'))).toBe(true);
    // flow/ knows nothing of the dreaming core (a sibling of its layer).
    expect(rules).toContain('layer-flow: src/flow/warp.ts → src/dream/a.ts');
  });
});
