/**
 * The pipeline spec: what a dreamflow job is, as data (docs/architecture.md, "The spec"). Each
 * kind of source, stage and sink declares its section in its own module (`sources/`, `stages/`,
 * `sinks/` of pipeline/), with the field builders of `spec/fields.ts`; `spec/kinds.ts` lists them
 * (the stages through stageRegistry.ts). The concerns built on that list each have a file of
 * their own under `spec/`, and this module puts them together: flags (`specFromArgs`), checks (`validateSpec`),
 * defaults (`withDefaults`), typed settings (`stageSettings`, `sourceSettings`, `sinkSettings`),
 * help, the JSON Schema, `--set` and the command line of a spec.
 *
 * A kind's module, and what it imports, read the spec through `spec/fields.ts` and
 * `spec/settings.ts` only: this module imports the kinds, so importing it there would be a cycle.
 */
export { parseLiveSize } from './sources/live.js';
export type { PipelineSpec, SectionConfig, SourceKind } from './spec/fields.js';
export { sinkSettings, sourceKindOf, sourceSettings, stageSettings } from './spec/settings.js';
export { validateSpec } from './spec/validate.js';
export { COMMAND_LAYOUTS, commandOf, type PresetCommand } from './spec/commands.js';
export { flagOptions, sectionFromValues, specFromArgs, suggestFlags } from './spec/flags.js';
export { sectionWithDefaults, withDefaults } from './spec/defaults.js';
export { argsOfSpec } from './spec/args.js';
export { helpFor } from './spec/help.js';
export { jsonSchema } from './spec/schema.js';
export { applyOverride } from './spec/override.js';
