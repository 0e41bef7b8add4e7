/**
 * The stage kinds (docs/architecture.md, "Where to add things"): one line per kind, each kind one
 * module under `stages/`. The spec's checks (which stages a source feeds, their order) and the
 * runner (stages.ts) both read the kinds from here. Imports only the kind modules.
 */
import type { StageModule } from './stageModule.js';
import type { SourceKind } from './spec/fields.js';
import { stage as dream } from './stages/dream.js';
import { stage as temporal } from './stages/temporal.js';
import { stage as vr } from './stages/vr.js';

const MODULES = new Map<string, StageModule>();

/** Add a stage kind: a module of its own (the built-in kinds are registered below, in the order they run). */
export function registerStage<S extends { kind: string }>(module: StageModule<S>): void {
  MODULES.set(module.kind, module);
}

registerStage(dream);
registerStage(temporal);
registerStage(vr);

/** The module of a stage kind, or undefined for a kind nobody registered. */
export function findStage(kind: string): StageModule | undefined {
  return MODULES.get(kind);
}

export function stageModule(kind: string): StageModule {
  const module = MODULES.get(kind);
  if (!module) throw new Error(`no stage kind ${kind}`);
  return module;
}

/** Every registered stage kind's module, in the order they were registered. */
export function stageModules(): StageModule[] {
  return [...MODULES.values()];
}

/** The stage kinds a source kind may feed (each module's `sources`), in registry order. */
export function stagesFor(source: SourceKind): string[] {
  return stageModules()
    .filter((m) => m.sources.includes(source))
    .map((m) => m.kind);
}

/**
 * What is wrong with a spec's stages, from the kinds' declarations, as field-path errors: each
 * kind at most once and fed by this source (`sources`); a stage that takes over another
 * (`takesOver`) right after one it takes over; a stage that accepts only source frames never
 * after one that gives dreamed frames; the first stage takes the source's frames, and a dream
 * stage is there.
 */
export function stageProblems(kinds: readonly string[], source: SourceKind): string[] {
  const errors: string[] = [];
  const order = `stages run in the order ${stageModules()
    .map((m) => m.kind)
    .join(' → ')}`;
  const feeds = stagesFor(source);
  const seen = new Set<string>();
  kinds.forEach((kind, i) => {
    const module = findStage(kind);
    const previous = i > 0 ? findStage(kinds[i - 1]!) : undefined;
    if (seen.has(kind)) errors.push(`stages[${i}]: a second ${kind} stage (each stage at most once)`);
    else if (!module || !feeds.includes(kind)) errors.push(`stages[${i}]: a ${source} source cannot feed a ${kind} stage (it takes ${feeds.join(', ')})`);
    else if (previous && !follows(module, previous)) errors.push(`stages[${i}]: ${kind} cannot come after ${previous.kind} (${order})`);
    seen.add(kind);
  });
  const first = kinds.length > 0 ? findStage(kinds[0]!) : undefined;
  if (!first?.accepts.includes('frame') || !kinds.includes('dream')) errors.push(`stages: the first stage must be a dream stage (${order})`);
  return errors;
}

/** Whether `module` may come right after `previous`. */
function follows(module: StageModule, previous: StageModule): boolean {
  if (module.takesOver) return module.takesOver.includes(previous.kind);
  return module.accepts.includes(previous.gives);
}
