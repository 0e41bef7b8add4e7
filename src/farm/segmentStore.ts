/**
 * The coordinator's segment store: the work folder beside the output where collected segments
 * are kept, and the check every stored result passes before a byte of it lands there
 * (docs/architecture.md, "The farm's trust boundary").
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Size } from '../media/decoder.js';
import { probe } from '../media/probe.js';
import { workDirFor, writeAtomic } from '../pipeline/checkpoint.js';
import { checkResultMac, type FarmSecret } from './auth.js';
import { unpackFrames } from './dissolve.js';
import type { SegmentPlan } from './plan.js';
import { SEGMENT_PARTS, resultKey, type SegmentPart } from './protocol.js';

/** Largest stored part that `frames` frames can honestly take: their raw size (an encoding or deflate of them is smaller) plus headers. Pure. */
export function partCap(frames: number, frameBytes: number): number {
  return frames === 0 ? 0 : frames * frameBytes + 64 * 1024;
}

/** Frames of each part of a segment's result. Pure. */
export function partFrames(s: SegmentPlan): Record<SegmentPart, number> {
  return { body: s.tailFrom - s.first, head: s.first - s.warmupFrom, tail: s.end - s.tailFrom };
}

/** Whether a segment has encoded frames of its own (not only dissolve frames). */
export function hasBody(s: SegmentPlan): boolean {
  return s.tailFrom > s.first;
}

/** Whether a segment starts with a dissolve from the previous one. */
export function hasCut(s: SegmentPlan): boolean {
  return s.first > s.warmupFrom;
}

/** The coordinator's work folder for `output`: beside the output's own work folder. Pure. */
export function farmDirFor(output: string): string {
  return `${workDirFor(output)}-farm`;
}

export class SegmentStore {
  private constructor(
    readonly dir: string,
    private readonly redis: Redis,
    private readonly where: { queue: string; farmId: string; secret: FarmSecret; size: Size; frameBytes: number },
  ) {}

  /** The store's folder next to the output; another farm's leftovers there are cleared. */
  static async open(output: string, redis: Redis, where: { queue: string; farmId: string; secret: FarmSecret; size: Size; frameBytes: number }): Promise<SegmentStore> {
    const dir = farmDirFor(output);
    const marker = join(dir, 'farm.json');
    let previous: string | undefined;
    try {
      previous = (JSON.parse(await readFile(marker, 'utf8')) as { farmId?: string }).farmId;
    } catch {
      previous = undefined;
    }
    if (previous !== where.farmId) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await writeAtomic(marker, JSON.stringify({ farmId: where.farmId }));
    }
    return new SegmentStore(dir, redis, where);
  }

  partPath(s: SegmentPlan, part: SegmentPart): string {
    return join(this.dir, `seg-${name(s.index)}.${part === 'body' ? 'mp4' : `${part}.rgbz`}`);
  }

  /** The encoded dissolve before segment `s`. */
  cutPath(s: SegmentPlan): string {
    return join(this.dir, `cut-${name(s.index)}.mp4`);
  }

  /** Written last when a segment is collected: its parts are all there and were checked. */
  private collectedPath(s: SegmentPlan): string {
    return join(this.dir, `seg-${name(s.index)}.collected`);
  }

  /** The segments of `plan` collected by this or an earlier run. */
  collected(plan: readonly SegmentPlan[]): Set<number> {
    return new Set(plan.filter((s) => existsSync(this.collectedPath(s))).map((s) => s.index));
  }

  /**
   * Check a stored result before anything of it is used: sizes first (read without the
   * bytes), then the MAC, then the frames inside (inflated under a cap, the body probed).
   * Returns why it is refused, or undefined once its parts are on disk.
   */
  async collect(s: SegmentPlan): Promise<string | undefined> {
    const { farmId, size, frameBytes } = this.where;
    const key = resultKey(this.where.queue, farmId, s.index);
    const frames = partFrames(s);
    for (const part of SEGMENT_PARTS) {
      const length = await this.redis.hstrlen(key, part);
      const cap = partCap(frames[part], frameBytes);
      if (frames[part] === 0 ? length !== 0 : length === 0) return `has ${length === 0 ? 'no' : 'an unexpected'} ${part}`;
      if (length > cap) return `has a ${length}-byte ${part}, over the ${cap} bytes ${frames[part]} frames can take`;
    }
    const [body, head, tail, mac] = await this.redis.hmgetBuffer(key, 'body', 'head', 'tail', 'mac');
    const parts: Partial<Record<SegmentPart, Buffer>> = {};
    if (body) parts.body = body;
    if (head) parts.head = head;
    if (tail) parts.tail = tail;
    if (!checkResultMac(this.where.secret, farmId, s.index, parts, mac ?? undefined)) return 'carries no valid signature';
    for (const part of ['head', 'tail'] as const) {
      const data = parts[part];
      if (!data) continue;
      const count = await unpackFrames(data, frameBytes, frames[part]).then((f) => f.length, () => -1);
      if (count !== frames[part]) return `has a ${part} that does not hold ${frames[part]} frames of ${size.width}x${size.height}`;
    }
    for (const part of SEGMENT_PARTS) {
      const data = parts[part];
      if (data) await writeAtomic(this.partPath(s, part), data);
    }
    if (hasBody(s)) {
      const count = await probe(this.partPath(s, 'body')).then((m) => (m.width === size.width && m.height === size.height ? m.frameCount : -1), () => -1);
      if (count !== frames.body) return `has a body that is not ${frames.body} encoded frames of ${size.width}x${size.height}`;
    }
    await writeAtomic(this.collectedPath(s), '');
    return undefined;
  }

  /** A refused result: whatever of it reached the folder, and its stored copy, go. */
  async discard(s: SegmentPlan): Promise<void> {
    for (const part of SEGMENT_PARTS) await rm(this.partPath(s, part), { force: true });
    await this.redis.del(resultKey(this.where.queue, this.where.farmId, s.index));
  }

  /** The folder, once the output is joined. */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

function name(n: number): string {
  return String(n).padStart(5, '0');
}
