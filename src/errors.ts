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
