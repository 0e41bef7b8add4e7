/** `dreamflow run --set PATH=VALUE`: one field of a pipeline file changed before it is checked. */
import { UserError } from '../../errors.js';

/**
 * Apply `--set path=value` overrides (`source.path=clip.mp4`, `stages[0].iterations=3`); the value
 * is read as JSON when it parses, else as a string.
 */
export function applyOverride(doc: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new UserError(`--set expects PATH=VALUE, e.g. source.path=clip.mp4 (got "${assignment}")`);
  const path = assignment.slice(0, eq);
  const raw = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const keys = path.match(/[^.[\]]+/g) ?? [];
  if (keys.length === 0) throw new UserError(`--set: empty path in "${assignment}"`);
  // A path part naming the prototype chain would change every object of the process, not a field.
  const forbidden = keys.find((k) => k === '__proto__' || k === 'constructor' || k === 'prototype');
  if (forbidden !== undefined) throw new UserError(`--set ${path}: "${forbidden}" is not a field`);
  let node: unknown = doc;
  for (const [i, key] of keys.entries()) {
    const last = i === keys.length - 1;
    if (typeof node !== 'object' || node === null) throw new UserError(`--set ${path}: ${keys.slice(0, i).join('.')} is not an object or array`);
    const container = node as Record<string, unknown>;
    if (last) container[key] = value;
    else node = Object.hasOwn(container, key) ? container[key] : undefined;
  }
}
