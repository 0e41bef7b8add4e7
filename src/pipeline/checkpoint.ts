import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { besideOutput } from '../paths.js';
import { writeError } from '../errors.js';
import type { StageSnapshot } from './stageModule.js';

/**
 * On-disk progress of a long video job, next to its output, so a crash, Ctrl-C or SIGKILL loses
 * at most the frame being dreamed. Layout of the work folder `.OUT.dreamflow/`:
 * - `job.json`: the job's identity (input fingerprint and every setting); a resume with other
 *   settings is refused, because it could not reproduce the uninterrupted result;
 * - `frame-NNNNNN.rgb`: dreamed frames of the segment being built (raw RGB24);
 * - `seg-NNNNN.mp4`: finished segments of `segmentFrames` frames, encoded with the final settings;
 * - `state.bin`: the commit record: next frame, running sums and the stages' snapshot,
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
  state: StageSnapshot | undefined;
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
  async commit(progress: JobProgress, state: StageSnapshot | undefined): Promise<void> {
    // The snapshot's numbers go into the JSON header, its byte arrays raw after it.
    const header = Buffer.from(JSON.stringify({ progress, state: state && { ...state.header, buffers: state.buffers.map((b) => b.byteLength) } }));
    const parts: Uint8Array[] = [new Uint8Array(new Uint32Array([header.length]).buffer), header, ...(state?.buffers ?? [])];
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
      state?: Record<string, number> & { buffers?: number[] };
    };
    if (!header.state) return { progress: header.progress, state: undefined };
    const { buffers: listed, ...numbers } = header.state;
    // A commit from before snapshots listed their buffers holds a carried frame: its input and float dream.
    const pixels = (numbers.width ?? 0) * (numbers.height ?? 0) * 3;
    const lengths = listed ?? [pixels, pixels * 4];
    let at = 4 + headerLength;
    const buffers = lengths.map((length) => {
      // A copy of its own: a Float32Array view needs its own aligned buffer.
      const part = new Uint8Array(buf.subarray(at, at + length));
      at += length;
      return part;
    });
    return { progress: header.progress, state: { header: numbers, buffers } };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
