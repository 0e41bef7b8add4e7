/**
 * dreamflow's dependency rules (docs/architecture.md, "Layers"), checked by `npm test`
 * (test/architecture.test.ts). Folders of src/ are in layers; a module may import its own folder
 * and any folder of a lower layer, never a sibling folder of its own layer or anything above.
 */
const LAYERS = [
  ['frame.ts', 'errors.ts', 'paths.ts', 'latest.ts'],
  ['engine'],
  ['models'],
  ['dream', 'flow', 'media'],
  ['metrics'],
  ['temporal'],
  ['vr'],
  ['sources', 'sinks', 'server'],
  ['pipeline'],
  ['farm'],
  ['cli'],
];

const escape = (s) => s.replace(/[.]/g, '\\.');
const path = (entry) => (entry.endsWith('.ts') ? `^src/${escape(entry.replace(/\.ts$/, ''))}\\.(ts|js)$` : `^src/${entry}/`);

const layerRules = LAYERS.flatMap((layer, i) =>
  layer.flatMap((entry) => {
    const above = LAYERS.slice(i).flat().filter((other) => other !== entry);
    if (above.length === 0) return [];
    return {
      name: `layer-${entry.replace(/\.ts$/, '')}`,
      comment: `${entry} may import only its own folder and the layers below it`,
      severity: 'error',
      from: { path: path(entry) },
      to: { path: above.map(path) },
    };
  }),
);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycles',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-not-to-tests-or-bench',
      comment: 'shipped code never imports tests or benchmarks',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'bench-not-to-tests',
      comment: 'benchmarks ship in the Docker image; tests do not',
      severity: 'error',
      from: { path: '^bench/' },
      to: { path: '^test/' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
