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

/**
 * Sizes a reader can hold in mind (docs/architecture.md, "Sizes"): every function under 101 lines
 * and every file under 501, measured on the TypeScript syntax tree.
 */
interface Oversize {
  what: string;
  lines: number;
}

async function oversized(root: string, maxFunction = 100, maxFile = 500): Promise<Oversize[]> {
  const ts = (await import('typescript')).default;
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
    });
  const found: Oversize[] = [];
  for (const path of files(join(root, 'src'))) {
    const text = readFileSync(path, 'utf8');
    const name = path.slice(root.length + 1);
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > maxFile) found.push({ what: name, lines });
    const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
    const visit = (node: import('typescript').Node): void => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
        const last = source.getLineAndCharacterOfPosition(node.end).line;
        if (last - first + 1 > maxFunction) found.push({ what: `${name}:${first + 1}`, lines: last - first + 1 });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

describe('sizes', () => {
  it('no function in src/ over 100 lines, no file over 500', async () => {
    expect(await oversized(ROOT)).toEqual([]);
  });

  it('the measure finds a long function and a long file', async () => {
    const dir = tempDir('dreamflow-sizes-');
    try {
      mkdirSync(join(dir, 'src'));
      const body = Array.from({ length: 101 }, (_, i) => `  const v${i} = ${i};`).join('\n');
      writeFileSync(join(dir, 'src/long.ts'), `export function long(): number {\n${body}\n  return 0;\n}\n`);
      writeFileSync(join(dir, 'src/short.ts'), 'export const f = (): number => 1;\n');
      expect(await oversized(dir)).toEqual([{ what: 'src/long.ts:1', lines: 104 }]);
      expect(await oversized(dir, 100, 50)).toEqual([
        { what: 'src/long.ts', lines: 104 },
        { what: 'src/long.ts:1', lines: 104 },
      ]);
    } finally {
      await removeDir(dir);
    }
  });
});
