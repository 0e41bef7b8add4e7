/**
 * Sink kinds beyond a loop's own (docs/architecture.md, "Where to add things"): a module that
 * declares its section, the sources whose frames it may take, and `open`, which gives a `Sink`
 * (frame.ts, the one contract). The file loop writes every frame to its own video sink and to
 * each sink of the spec whose kind is registered here, in the spec's order.
 */
import type { Rational, Sink } from '../frame.js';
import type { Size } from '../media/decoder.js';
import type { ChainedFrame } from './runLoop.js';
import type { PipelineSpec, SectionConfig, SectionSpec, SourceKind } from './spec/fields.js';
import { filled, sourceKindOf } from './spec/settings.js';

/** What a sink is opened with: the job's spec, and the size and rate of the frames it will get. */
export interface SinkContext {
  spec: PipelineSpec;
  size: Size;
  fps: Rational;
}

export interface SinkModule<S extends { kind: string } = SectionConfig> {
  kind: string;
  /** Its fields (spec/fields.ts); a sink without any takes its section as given. */
  section?: SectionSpec;
  /** The source kinds whose frames it may take. */
  sources: readonly SourceKind[];
  open(context: SinkContext, settings: S): Promise<Sink<ChainedFrame>>;
}

const MODULES = new Map<string, SinkModule>();

/** Add a sink kind: a module of its own. */
export function registerSink<S extends { kind: string }>(module: SinkModule<S>): void {
  MODULES.set(module.kind, module);
}

export function findSink(kind: string): SinkModule | undefined {
  return MODULES.get(kind);
}

/** The registered sink kinds a source kind may feed. */
export function sinksFor(source: SourceKind): string[] {
  return [...MODULES.values()].filter((m) => m.sources.includes(source)).map((m) => m.kind);
}

/** The spec's sinks of registered kinds, opened (one that fails to open aborts those opened before it). */
export async function openSinks(context: SinkContext): Promise<Array<Sink<ChainedFrame>>> {
  const opened: Array<Sink<ChainedFrame>> = [];
  try {
    for (const section of context.spec.sinks) {
      const module = MODULES.get(section.kind);
      if (!module) continue;
      const settings = module.section ? filled(module.section, section, sourceKindOf(context.spec)) : section;
      opened.push(await module.open(context, settings));
    }
  } catch (err) {
    await Promise.all(opened.map((s) => s.abort().catch(() => undefined)));
    throw err;
  }
  return opened;
}
