/**
 * A mistake the user can fix (bad path, unknown layer, out-of-range number).
 * The CLI prints only `message` on one line and exits with `exitCode`; no stack trace.
 */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/**
 * "no such FILE: path", or why a name cannot be found: Node decodes command-line arguments as
 * UTF-8 and replaces bytes that are not (a Latin-1 `café`) with U+FFFD, so a file whose name is
 * not UTF-8 cannot be named on the command line at all; say that instead of "no such file".
 */
export function missingFile(what: string, path: string): UserError {
  return new UserError(`no such ${what}: ${path}${notUtf8Hint(path)}`);
}

/** The reason a name that holds U+FFFD cannot be opened (see missingFile), or ''. */
export function notUtf8Hint(path: string): string {
  if (!path.includes('\uFFFD')) return '';
  return ' (the name is not valid UTF-8, shown with \uFFFD: Node.js cannot open such names; rename it to UTF-8, e.g. convmv -f latin1 -t utf8 --notest FILE)';
}

/** Suggest the nearest names to a misspelt one (Levenshtein distance), for error messages. */
export function nearestNames(wanted: string, known: readonly string[], count = 3): string[] {
  const scored = known.map((name) => ({ name, d: editDistance(wanted.toLowerCase(), name.toLowerCase()) }));
  scored.sort((a, b) => a.d - b.d || a.name.localeCompare(b.name));
  return scored.slice(0, count).map((s) => s.name);
}

export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** A write the user can fix failed (full disk, read-only, rights): a UserError that says which problem. */
export class WriteError extends UserError {
  constructor(
    message: string,
    readonly problem: string,
  ) {
    super(message);
    this.name = 'WriteError';
  }
}

/**
 * Errno codes of a file-system write that the user can fix (free space, another folder, rights),
 * in words. Anything else stays an internal error: it is a bug or a broken machine.
 */
const WRITE_PROBLEMS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

/** The problem in words when `err` is a write failure the user can fix (full disk, read-only, rights). */
export function writeProblem(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? WRITE_PROBLEMS[code] : undefined;
}

/**
 * A write failure as one line naming the file and the problem ("no space left on device writing
 * X"), or undefined when `err` is no such failure. `path` is what was being written (Node's own
 * error names the temp file, or nothing at all for a failed `write` on an open file). Without
 * `path`, a permission error may have come from a read too, so it names the call instead.
 */
export function writeError(err: unknown, path?: string): WriteError | undefined {
  const problem = writeProblem(err);
  if (problem === undefined) return undefined;
  if (path !== undefined) return new WriteError(`${problem} writing ${path}`, problem);
  const e = err as NodeJS.ErrnoException & { dest?: string };
  const where = e.dest ?? e.path;
  if (e.code === 'EACCES' || e.code === 'EPERM') return new WriteError(`${problem}: ${e.syscall ?? 'access'} ${where ?? ''}`.trimEnd(), problem);
  return new WriteError(where === undefined ? `${problem} while writing` : `${problem} writing ${where}`, problem);
}

/**
 * The job was stopped by a signal (Ctrl-C, SIGTERM, SIGHUP) before its output was written: one
 * line, exit code 130 (docs/architecture.md, "Signals").
 */
export class Stopped extends UserError {
  constructor(message = 'stopped before the output was written: nothing written') {
    super(message, 130);
    this.name = 'Stopped';
  }
}

/**
 * `work`, unless `signal` aborts first: then the error `stopped` makes (read when the abort
 * comes; default a Stopped error) at once. The work itself goes on to its end unwatched (a tile in
 * a worker finishes; the runner's close waits for it). Not `Promise.race` against a promise of the
 * abort: every race leaves a reaction on that promise holding its result, so a job-long race
 * would keep every frame of the job reachable; the listener here goes when the wait ends.
 */
export function unlessStopped<T>(work: Promise<T>, signal: AbortSignal | undefined, stopped: () => Error = () => new Stopped()): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(stopped());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(stopped());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
