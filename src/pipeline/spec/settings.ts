/**
 * A section's settings as the code reads them: every field given, else its default for the
 * spec's source, typed by the section's own fields (`stageSettings(spec, temporal)`), with no
 * cast (docs/architecture.md, "The spec"). Knows no kind, so any kind's module may import it.
 */
import { SOURCE_KINDS, type FieldSpec, type FieldValue, type PipelineSpec, type Role, type Section, type SectionConfig, type SectionSpec, type SettingsOf, type SourceKind } from './fields.js';

type SectionOfRole<R extends Role> = Section<string, R, readonly FieldSpec[]>;

/** The value a field has in a section: given, else its default for this source. */
export function valueOf(field: FieldSpec, section: SectionConfig, source: SourceKind): FieldValue | undefined {
  const v = section[field.name];
  if (v !== undefined) return v;
  return typeof field.default === 'function' ? field.default(source) : field.default;
}

/** One section with every field's value: given, else its default for `source`. */
export function filled(spec: SectionSpec, given: SectionConfig, source: SourceKind): SectionConfig {
  const item = spec.expand ? spec.expand(given) : given;
  const out: SectionConfig = { kind: item.kind };
  for (const field of spec.fields) {
    const v = valueOf(field, item, source);
    if (v !== undefined) out[field.name] = v;
  }
  return out;
}

function isSourceKind(kind: string): kind is SourceKind {
  return SOURCE_KINDS.some((k) => k === kind);
}

/** The source kind of a spec (validated: one of SOURCE_KINDS). */
export function sourceKindOf(spec: PipelineSpec): SourceKind {
  const kind = spec.source.kind;
  if (!isSourceKind(kind)) throw new Error(`unknown source kind "${kind}" (the spec was not validated)`);
  return kind;
}

/**
 * A filled section is its kind's settings: its values passed the field checks (validateSpec, or
 * the flags' own) and every default of the section's fields is in place.
 */
function isSettingsOf<S extends SectionSpec>(spec: S, item: SectionConfig): item is SectionConfig & SettingsOf<S> {
  return item.kind === spec.kind;
}

function settingsIn<S extends SectionSpec>(spec: PipelineSpec, items: readonly SectionConfig[], section: S): SettingsOf<S> | undefined {
  const item = items.find((s) => s.kind === section.kind);
  if (!item) return undefined;
  const out = filled(section, item, sourceKindOf(spec));
  return isSettingsOf(section, out) ? out : undefined;
}

/** The spec's stage of this kind with its defaults, or undefined when the spec has none. */
export function stageSettings<S extends SectionOfRole<'stage'>>(spec: PipelineSpec, stage: S): SettingsOf<S> | undefined {
  return settingsIn(spec, spec.stages, stage);
}

/** The spec's sink of this kind with its defaults, or undefined when the spec has none. */
export function sinkSettings<S extends SectionOfRole<'sink'>>(spec: PipelineSpec, sink: S): SettingsOf<S> | undefined {
  return settingsIn(spec, spec.sinks, sink);
}

/** The spec's source with its defaults, when it is of this kind. */
export function sourceSettings<S extends SectionOfRole<'source'>>(spec: PipelineSpec, source: S): SettingsOf<S> | undefined {
  return settingsIn(spec, [spec.source], source);
}
