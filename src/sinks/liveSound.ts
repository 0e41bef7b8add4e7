/**
 * Live outputs that carry the input's sound (docs/architecture.md, "Live sound"): before each
 * paced frame goes out, its share of the sound goes out too, held back by the frame's age (the
 * measured dream latency, capture to output), so picture and sound stay in sync.
 */
import type { LiveFrame, Sink } from '../frame.js';
import { pcmBytesForFrame, type PcmFeed } from '../media/liveAudio.js';

/** A sink that also takes sound: FrameEncoder (pcmAudio) and StreamPush (with sound). */
export interface SoundSink extends Sink {
  writeAudio(pcm: Uint8Array): void;
}

/** Smoothing of the delay: a frame's age jitters with the dream; the sound should not. */
const DELAY_SMOOTHING = 0.1;

export class WithSound implements Sink<LiveFrame> {
  private frames = 0;
  private delaySeconds: number | undefined;

  constructor(
    private readonly inner: SoundSink,
    private readonly sound: PcmFeed,
    private readonly fps: number,
  ) {}

  /** The delay the sound is played with now (s): the smoothed age of the frames going out. */
  get delay(): number {
    return this.delaySeconds ?? 0;
  }

  async write(frame: LiveFrame): Promise<void> {
    // Live frames carry their capture time (frame.ts): now − capture is how late this picture
    // is, so the sound captured then is what belongs with it.
    const age = Math.max(0, (Date.now() - frame.capturedAt) / 1000);
    this.delaySeconds = this.delaySeconds === undefined ? age : this.delaySeconds + DELAY_SMOOTHING * (age - this.delaySeconds);
    this.inner.writeAudio(this.sound.take(pcmBytesForFrame(this.frames++, this.fps), this.delay));
    await this.inner.write(frame);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  abort(): Promise<void> {
    return this.inner.abort();
  }
}
