/**
 * The preset commands (image, stills, video, vr, zoom, live): which sections each one's flags
 * make, its usage line, and the run flags every preset takes besides (docs/architecture.md,
 * "The spec").
 */
import type { PipelineSpec, SectionName, SectionSpec, SourceKind } from './fields.js';
import { sectionSpec } from './kinds.js';
import { sourceKindOf } from './settings.js';

export type PresetCommand = 'image' | 'stills' | 'video' | 'vr' | 'live' | 'zoom';

export interface CommandLayout {
  source: SourceKind;
  stages: string[];
  sinks: string[];
  /** Sinks that appear only when one of their fields is given (live --record, --push). */
  optionalSinks?: string[];
  usage: string;
  summary: string;
}

export const COMMAND_LAYOUTS: Record<PresetCommand, CommandLayout> = {
  image: {
    source: 'image',
    stages: ['dream'],
    sinks: ['image'],
    usage: 'dreamflow image IN -o OUT [options]\n       dreamflow image --from noise|gray [--size N|WxH] -o OUT [options]',
    summary: 'Dream a picture. The output carries its settings (dreamflow info shows them).',
  },
  stills: {
    source: 'folder',
    stages: ['dream'],
    sinks: ['folder'],
    usage: 'dreamflow stills DIR -o OUTDIR [options]',
    summary: 'Dream every picture of a folder into another folder, same names and formats. --resume skips pictures already done.',
  },
  video: {
    source: 'video',
    stages: ['dream', 'temporal'],
    sinks: ['video'],
    usage: 'dreamflow video IN -o OUT [options]',
    summary:
      'Dream a whole video file: same frames, frame rate and sound, hallucinations carried along the optical flow so they stick\nto the scene. Resumable: after Ctrl-C or a crash, run the same command with --resume.',
  },
  vr: {
    source: 'video',
    stages: ['dream', 'temporal', 'vr'],
    sinks: ['video'],
    usage: 'dreamflow vr IN -o OUT.mp4 [options]',
    summary:
      'Dream a 360° equirectangular video for headsets: no seam where 0° meets 360°, optionally on cube faces, both eyes of\nstereo video alike, and spherical metadata (V1 and V2) written so players show it as 360°.',
  },
  zoom: {
    source: 'zoom',
    stages: ['dream', 'temporal'],
    sinks: ['video'],
    usage: 'dreamflow zoom IMAGE -o OUT.mp4 [options]',
    summary:
      "Google's zoom: an animation from a still, each frame the previous dream scaled (--zoom), turned (--rotate) and moved\n(--pan), then dreamed a few steps (--frame-iterations). Resumable: after Ctrl-C, run the same command with --resume.",
  },
  live: {
    source: 'live',
    stages: ['dream', 'temporal'],
    sinks: ['viewers'],
    optionalSinks: ['record', 'push'],
    usage: 'dreamflow live --input SRC [options]',
    summary:
      'Dream a camera or stream in real time for any number of browsers: open the printed URL. Viewers see the dream with its\nfps and latency, can change layer and strength, and can share their own camera. Ctrl-C finishes the recording.',
  },
};

/** How to run rather than what: flags of every preset command and of `dreamflow run`, never in a spec. */
export interface RunFlags {
  json: boolean;
  quiet: boolean;
  resume: boolean;
  printConfig: boolean;
  help: boolean;
  /** -y/--overwrite: replace an existing output (sinks/outputGuard.ts). */
  overwrite: boolean;
  /** -n/--no-overwrite: never replace an existing output. */
  noOverwrite: boolean;
}

export const RUN_FLAG_HELP: Array<[keyof RunFlags, string, string]> = [
  ['resume', 'resume', 'continue an interrupted run of the same command (video, vr, zoom, stills)'],
  ['printConfig', 'print-config', 'print the pipeline file these flags make (every default written out) and exit'],
  ['json', 'json', 'print one JSON line with the result'],
  ['quiet', 'quiet', 'no progress output'],
  ['overwrite', 'overwrite', 'replace an existing output (without it a terminal is asked, anything else refused)'],
  ['noOverwrite', 'no-overwrite', 'never replace an existing output (exit 2 when one exists)'],
];

/** One-letter run flags, ffmpeg's: -y replaces an existing output, -n never does. */
export const RUN_FLAG_SHORT: Partial<Record<keyof RunFlags, string>> = { overwrite: 'y', noOverwrite: 'n' };

export function layoutSections(layout: CommandLayout): Array<{ section: SectionName; spec: SectionSpec }> {
  return [
    { section: 'source' as const, spec: sectionSpec('source', layout.source)! },
    ...layout.stages.map((k) => ({ section: 'stages' as const, spec: sectionSpec('stages', k)! })),
    ...[...layout.sinks, ...(layout.optionalSinks ?? [])].map((k) => ({ section: 'sinks' as const, spec: sectionSpec('sinks', k)! })),
  ];
}

/** The command a (validated) spec is a preset of: how its result is reported. */
export function commandOf(spec: PipelineSpec): PresetCommand {
  switch (sourceKindOf(spec)) {
    case 'image':
      return 'image';
    case 'folder':
      return 'stills';
    case 'live':
      return 'live';
    case 'zoom':
      return 'zoom';
    case 'video':
      return spec.stages.some((s) => s.kind === 'vr') ? 'vr' : 'video';
  }
}
