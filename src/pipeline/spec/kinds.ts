/**
 * Every kind of source, stage and sink: each kind's module declares its section (fields, help,
 * defaults); the sources and sinks are listed here, one line each, the stages in
 * stageRegistry.ts, one line each (docs/architecture.md, "The spec").
 */
import { section as folderSink } from '../sinks/folder.js';
import { section as imageSink } from '../sinks/image.js';
import { section as pushSink } from '../sinks/push.js';
import { section as recordSink } from '../sinks/record.js';
import { section as videoSink } from '../sinks/video.js';
import { section as viewersSink } from '../sinks/viewers.js';
import { section as folderSource } from '../sources/folder.js';
import { section as imageSource } from '../sources/image.js';
import { section as liveSource } from '../sources/live.js';
import { section as videoSource } from '../sources/video.js';
import { section as zoomSource } from '../sources/zoom.js';
import { findSink } from '../sinkRegistry.js';
import { findStage, stageModules } from '../stageRegistry.js';
import type { SectionName, SectionSpec, SourceKind } from './fields.js';

const SOURCES: readonly SectionSpec[] = [imageSource, folderSource, videoSource, zoomSource, liveSource];
const SINKS: readonly SectionSpec[] = [imageSink, folderSink, videoSink, viewersSink, recordSink, pushSink];

/**
 * Every section: the sources and sinks above, and the stages' from their modules
 * (stageRegistry.ts, in the order they run), read when asked so a kind registered later counts.
 */
export function sections(): SectionSpec[] {
  return [...SOURCES, ...stageModules().flatMap((m) => (m.section ? [m.section] : [])), ...SINKS];
}

/** What each source kind can feed besides its stages (stageRegistry.ts `stagesFor`): its sinks, and the sinks it must have. */
export const SOURCE_RULES: Record<SourceKind, { sinks: readonly string[]; requiredSinks: readonly string[] }> = {
  image: { sinks: ['image'], requiredSinks: ['image'] },
  folder: { sinks: ['folder'], requiredSinks: ['folder'] },
  video: { sinks: ['video'], requiredSinks: ['video'] },
  live: { sinks: ['viewers', 'record', 'push'], requiredSinks: ['viewers'] },
  zoom: { sinks: ['video'], requiredSinks: ['video'] },
};

/** The section of a kind; a registered stage or sink module without fields has an empty one. */
export function sectionSpec(section: SectionName, kind: string): SectionSpec | undefined {
  const found = sections().find((s) => s.section === section && s.kind === kind);
  if (found) return found;
  const module = section === 'stages' ? findStage(kind) : section === 'sinks' ? findSink(kind) : undefined;
  return module ? (module.section ?? { kind, section, help: '', fields: [] }) : undefined;
}
