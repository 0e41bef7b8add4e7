/**
 * Progress on stderr: a bar redrawn in place on a terminal, plain lines (at most one every few
 * seconds) otherwise, so logs of CI or a service stay readable.
 */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly started = performance.now();
  private lastLine = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly quiet = false,
    private readonly unit = 'steps',
    private readonly lineEveryMs = 5000,
  ) {}

  /** `done` units finished (frames, steps). */
  update(done: number, extra = ''): void {
    if (this.quiet) return;
    const elapsed = (performance.now() - this.started) / 1000;
    const rate = done / Math.max(elapsed, 1e-6);
    const eta = this.total && rate > 0 ? (this.total - done) / rate : undefined;
    const parts = [
      this.total ? `${done}/${this.total}` : `${done}`,
      `${rate.toFixed(rate < 10 ? 2 : 1)} ${this.unit}/s`,
      eta !== undefined ? `ETA ${formatSeconds(eta)}` : '',
      extra,
    ].filter(Boolean);
    if (this.tty) {
      const width = 24;
      const frac = this.total ? Math.min(1, done / this.total) : 0;
      const bar = this.total ? `[${'#'.repeat(Math.round(frac * width))}${'.'.repeat(width - Math.round(frac * width))}] ` : '';
      process.stderr.write(`\r\x1b[K${this.label} ${bar}${parts.join('  ')}`);
      this.drawn = true;
    } else if (performance.now() - this.lastLine >= this.lineEveryMs || (this.total !== undefined && done >= this.total)) {
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
