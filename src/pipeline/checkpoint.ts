import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { besideOutput } from '../paths.js';
import { writeError } from '../errors.js';
import type { TemporalState } from '../temporal/stage.js';

/**
 * On-disk progress of a long video job, next to its output, so a crash, Ctrl-C or SIGKILL loses
 * at most the frame being dreamed. Layout of the work folder `.OUT.dreamflow/`:
 * - `job.json`: the job's identity (input fingerprint and every setting); a resume with other
 *   settings is refused, because it could not reproduce the uninterrupted result;
 * - `frame-NNNNNN.rgb`: dreamed frames of the segment being built (raw RGB24);
 * - `seg-NNNNN.mp4`: finished segments of `segmentFrames` frames, encoded with the final settings;
 * - `state.bin`: the commit record: next frame, running sums and the temporal stage's state,
 *   replaced atomically (write + rename) after every frame.
 */
export interface JobProgress {
  nextFrame: number;
  gainSum: number;
  gainCount: number;
  dreamSeconds: number;
}

export interface Checkpoint {
  progress: JobProgress;
  state: TemporalState | undefined;
}

export function workDirFor(output: string): string {
  return besideOutput(output, '.dreamflow');
}

/**
 * Replace `path` atomically: a temp file renamed over it. When the write fails (a full disk) the
 * temp file is removed, so the folder keeps the previous version and nothing half-written; the
 * error names `path` in one line when it is the user's to fix.
 */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw writeError(err, path) ?? err;
  }
}

/** Write `path` whole or not at all: a failed write (a full disk) removes what it began. */
export async function writeWhole(path: string, data: Uint8Array): Promise<void> {
  try {
    await writeFile(path, data);
  } catch (err) {
    await rm(path, { force: true }).catch(() => undefined);
    throw writeError(err, path) ?? err;
  }
}

export class CheckpointStore {
  constructor(readonly dir: string) {}

  static async create(dir: string, identity: object): Promise<CheckpointStore> {
    await rm(dir, { recursive: true, force: true });
    try {
      await mkdir(dir, { recursive: true });
      await writeAtomic(join(dir, 'job.json'), JSON.stringify(identity, null, 1));
    } catch (err) {
      // A job that cannot even start leaves no work folder that looks like one to resume.
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw writeError(err, dir) ?? err;
    }
    return new CheckpointStore(dir);
  }

  /** The stored job identity, or undefined when there is no (readable) unfinished job. */
  static async identityIn(dir: string): Promise<unknown> {
    try {
      return JSON.parse(await readFile(join(dir, 'job.json'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  framePath(index: number): string {
    return join(this.dir, `frame-${String(index).padStart(6, '0')}.rgb`);
  }

  segmentPath(segment: number): string {
    return join(this.dir, `seg-${String(segment).padStart(5, '0')}.mp4`);
  }

  hasSegment(segment: number): boolean {
    return existsSync(this.segmentPath(segment));
  }

  /** Commit one finished frame: after this returns, a restart continues with `progress.nextFrame`. */
  async commit(progress: JobProgress, state: TemporalState | undefined): Promise<void> {
    const header = Buffer.from(
      JSON.stringify({ progress, state: state && { index: state.index, width: state.width, height: state.height, referenceRms: state.referenceRms } }),
    );
    const parts: Uint8Array[] = [new Uint8Array(new Uint32Array([header.length]).buffer), header];
    if (state) {
      parts.push(state.previousInput);
      parts.push(new Uint8Array(state.previousDream.buffer, state.previousDream.byteOffset, state.previousDream.byteLength));
    }
    await writeAtomic(join(this.dir, 'state.bin'), Buffer.concat(parts));
  }

  async load(): Promise<Checkpoint | undefined> {
    let buf: Buffer;
    try {
      buf = await readFile(join(this.dir, 'state.bin'));
    } catch {
      return undefined;
    }
    const headerLength = buf.readUInt32LE(0);
    const header = JSON.parse(buf.subarray(4, 4 + headerLength).toString('utf8')) as {
      progress: JobProgress;
      state?: { index: number; width: number; height: number; referenceRms: number };
    };
    if (!header.state) return { progress: header.progress, state: undefined };
    const { width, height } = header.state;
    const inputBytes = width * height * 3;
    const start = 4 + headerLength;
    const previousInput = new Uint8Array(buf.subarray(start, start + inputBytes));
    const dreamBytes = buf.subarray(start + inputBytes, start + inputBytes + inputBytes * 4);
    const previousDream = new Float32Array(inputBytes);
    new Uint8Array(previousDream.buffer).set(dreamBytes);
    return { progress: header.progress, state: { ...header.state, previousInput, previousDream } };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
