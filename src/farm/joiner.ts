/**
 * The coordinator's joiner: each cut's dissolve encoded from the two collected halves, then the
 * dissolves and segment bodies joined without re-encoding with the input's sound
 * (docs/architecture.md, "The farm").
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { concatSegments } from '../media/concat.js';
import { FrameEncoder } from '../media/encoder.js';
import { probe } from '../media/probe.js';
import { crossFade, dissolveWeight, unpackFrames } from './dissolve.js';
import type { FarmLayout } from './layout.js';
import type { SegmentPlan } from './plan.js';
import type { FarmVideo } from './settings.js';
import { hasBody, hasCut, type SegmentStore } from './segmentStore.js';

export class Joiner {
  constructor(
    private readonly segments: SegmentStore,
    private readonly layout: FarmLayout,
    private readonly video: FarmVideo,
  ) {}

  /** Dissolves whose two halves are both collected (all of them with `have` undefined), made once. */
  async encodeDissolves(have?: ReadonlySet<number>): Promise<void> {
    const { plan } = this.layout;
    for (const s of plan) {
      if (s.index > 0 && hasCut(s) && (!have || (have.has(s.index) && have.has(s.index - 1))) && !existsSync(this.segments.cutPath(s))) {
        await this.encodeDissolve(plan[s.index - 1]!, s);
      }
    }
  }

  /** Frames [s.warmupFrom, s.first): the previous segment's tail fading into this one's head, encoded as the bodies are. */
  private async encodeDissolve(previous: SegmentPlan, s: SegmentPlan): Promise<void> {
    const { size, frameBytes, fps, range } = this.layout;
    const n = s.first - s.warmupFrom;
    const tail = await unpackFrames(await readFile(this.segments.partPath(previous, 'tail')), frameBytes, n);
    const head = await unpackFrames(await readFile(this.segments.partPath(s, 'head')), frameBytes, n);
    if (tail.length !== n || head.length !== n) throw new Error(`cut ${s.index}: ${tail.length} tail and ${head.length} head frames for a ${n}-frame dissolve`);
    const encoder = await FrameEncoder.open(this.segments.cutPath(s), { ...size, fps, codec: this.video.codec, crf: this.video.crf, faststart: false });
    try {
      for (let j = 0; j < n; j++) {
        const data = crossFade(tail[j]!, head[j]!, dissolveWeight(j, n));
        await encoder.write({ index: s.warmupFrom + j - range.first, ptsSeconds: 0, ...size, data });
      }
      await encoder.close();
    } catch (err) {
      await encoder.abort();
      throw err;
    }
  }

  /** Every dissolve and body in order, with the input's sound, checked frame for frame. */
  async join(): Promise<void> {
    const { plan, output, input, range } = this.layout;
    const joined: string[] = [];
    for (const s of plan) {
      if (s.index > 0 && hasCut(s)) joined.push(this.segments.cutPath(s));
      if (hasBody(s)) joined.push(this.segments.partPath(s, 'body'));
    }
    await concatSegments(joined, output, { audioFrom: { path: input, start: this.video.start, duration: this.video.duration } });
    const totalFrames = range.end - range.first;
    const joinedFrames = (await probe(output)).frameCount;
    if (joinedFrames !== totalFrames) {
      // Never leave a video with a missing or doubled frame under the asked name.
      await rm(output, { force: true });
      throw new Error(`the joined video had ${joinedFrames} frames instead of ${totalFrames}; the segments are kept in ${this.segments.dir}`);
    }
  }
}
