/**
 * Progress on stderr: a bar redrawn in place on a terminal, plain lines (at most one every few
 * seconds) otherwise, so logs of CI or a service stay readable.
 */
export interface ProgressOptions {
  /**
   * The first unit is a step of its own (a video's first frame gets the full dream, far slower
   * than carried frames): it is reported with its time, and the rate and ETA count only the units
   * after it.
   */
  firstOwnStep?: boolean;
  /** Units the rate is measured over: the most recent ones only, so the ETA follows the job's pace. */
  window?: number;
}

/**
 * The rate over the recent marks (units per second) and the marks kept for it: at most `window`
 * units back, never across a first unit that is a step of its own. Pure.
 */
export function recentRate(marks: ReadonlyArray<{ done: number; at: number }>, window: number): number | undefined {
  if (marks.length < 2) return undefined;
  const last = marks[marks.length - 1]!;
  let first = marks[marks.length - 2]!;
  for (let i = marks.length - 2; i >= 0 && last.done - marks[i]!.done <= window; i--) first = marks[i]!;
  const seconds = (last.at - first.at) / 1000;
  return seconds > 0 && last.done > first.done ? (last.done - first.done) / seconds : undefined;
}

export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly started = performance.now();
  private lastLine = 0;
  private drawn = false;
  /** (units done, time) at each update, the start included: what the recent rate is taken from. */
  private marks: Array<{ done: number; at: number }> = [];
  private firstSeconds: number | undefined;

  constructor(
    private readonly label: string,
    private total: number | undefined,
    private readonly quiet = false,
    private readonly unit = 'steps',
    private readonly lineEveryMs = 5000,
    private readonly options: ProgressOptions = {},
  ) {}

  /** The total, once known (a video's frame count comes with its first frame). */
  setTotal(total: number | undefined): void {
    this.total = total;
  }

  /** `done` units finished (frames, steps). */
  update(done: number, extra = ''): void {
    if (this.quiet) return;
    const now = performance.now();
    const window = this.options.window ?? 10;
    // The first update may come after a resume: the time since the start is one unit's.
    if (this.marks.length === 0) this.marks.push({ done: Math.max(0, done - 1), at: this.started });
    this.marks.push({ done, at: now });
    const own = this.options.firstOwnStep === true;
    const firstJustDone = own && this.firstSeconds === undefined;
    if (firstJustDone) {
      this.firstSeconds = (now - this.started) / 1000;
      // The rate starts after the first unit.
      this.marks = [{ done, at: now }];
    }
    if (this.marks.length > window + 2) this.marks.splice(0, this.marks.length - window - 2);
    const rate = recentRate(this.marks, window);
    const eta = this.total && rate !== undefined ? (this.total - done) / rate : undefined;
    const singular = this.unit.replace(/s$/, '');
    const parts = [
      this.total ? `${done}/${this.total}` : `${done}`,
      firstJustDone ? `first ${singular} (full dream) took ${formatSeconds(this.firstSeconds ?? 0)}` : '',
      rate !== undefined ? `${rate < 1 ? `${formatSeconds(1 / rate)}/${singular}` : `${rate.toFixed(rate < 10 ? 2 : 1)} ${this.unit}/s`}` : '',
      eta !== undefined ? `ETA ${formatSeconds(eta)}` : '',
      extra,
    ].filter(Boolean);
    if (this.tty) {
      const width = 24;
      const frac = this.total ? Math.min(1, done / this.total) : 0;
      const bar = this.total ? `[${'#'.repeat(Math.round(frac * width))}${'.'.repeat(width - Math.round(frac * width))}] ` : '';
      process.stderr.write(`\r\x1b[K${this.label} ${bar}${parts.join('  ')}`);
      this.drawn = true;
    } else if (firstJustDone || performance.now() - this.lastLine >= this.lineEveryMs || (this.total !== undefined && done >= this.total)) {
      this.lastLine = performance.now();
      process.stderr.write(`${this.label}: ${parts.join(', ')}\n`);
    }
  }

  done(): void {
    if (this.drawn) process.stderr.write('\n');
    this.drawn = false;
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}
