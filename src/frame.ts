/**
 * The bottom of dreamflow: the frame and the source → stage → sink contracts every part of the
 * data flow speaks (docs/architecture.md). Imports nothing.
 */
/** One video frame: packed RGB24, row-major, `width * height * 3` bytes. One layout everywhere. */
export interface Frame {
  index: number;
  ptsSeconds: number;
  width: number;
  height: number;
  data: Uint8Array;
}

/** An exact rational frame rate (30000/1001 stays 30000/1001). */
export interface Rational {
  num: number;
  den: number;
}

export interface SourceInfo {
  width: number;
  height: number;
  fps: Rational;
  /** Seconds, when known (files); undefined for live sources. */
  durationSeconds?: number;
  /** Number of frames, when known. */
  frameCount?: number;
  hasAudio: boolean;
}

/** A source of frames in presentation order. */
export interface Source extends AsyncIterable<Frame> {
  readonly info: SourceInfo;
  close(): Promise<void>;
}

/** Maps frames in order; may keep state (previous input and dream frames). */
export interface Stage {
  process(frame: Frame): Promise<Frame>;
  close?(): Promise<void>;
}

/** Consumes frames. `close()` finishes the output atomically; `abort()` removes anything partial. */
export interface Sink {
  write(frame: Frame): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}
