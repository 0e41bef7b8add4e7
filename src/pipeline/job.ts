import type { OverwritePolicy } from '../sinks/outputGuard.js';

/** What every job of runPipeline (run.ts) takes and gives back. */
export interface RunOptions {
  /** No progress output (JSON output implies it). */
  quiet: boolean;
  /** Continue an interrupted run (video files, stills). */
  resume: boolean;
  /** An existing output: ask on a terminal (default), replace (-y) or never (-n); sinks/outputGuard.ts. */
  overwrite?: OverwritePolicy | undefined;
  /** Stops the job cleanly (Ctrl-C): a video keeps its checkpoint, a live job finishes its recording. */
  signal?: AbortSignal | undefined;
  onWarning?: ((message: string) => void) | undefined;
  /** Video jobs: instead of the render, a contact sheet of this many frames (video --preview; preview.ts). */
  preview?: number | undefined;
  /** Live jobs: the line that tells where to watch, once the server listens. */
  onReady?: ((line: string) => void) | undefined;
}

/** What a job reports: the `--json` object and a human line. */
export interface JobResult {
  summary: Record<string, unknown>;
  line: string;
}
