/**
 * The bottom of dreamflow: the frame and the source → stage → sink contracts every part of the
 * data flow speaks, live frames and the viewers' camera pictures included (docs/architecture.md).
 * Imports nothing.
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

/** A source of frames in presentation order: `F` its frames, `I` what it says about them. */
export interface Source<F extends Frame = Frame, I = SourceInfo> extends AsyncIterable<F> {
  readonly info: I;
  close(): Promise<void>;
}

/** Maps frames in order; may keep state (previous input and dream frames). */
export interface Stage<In extends Frame = Frame, Out extends Frame = Frame> {
  process(frame: In): Promise<Out>;
  close?(): Promise<void>;
}

/**
 * Consumes frames. `close()` finishes the output atomically; `abort()` removes anything partial.
 * Live outputs take the newest frame only: their sink is wrapped (sinks/paced.ts, the hub's JPEG
 * sink) so that `write` never blocks the dream loop (docs/architecture.md, "Live outputs").
 */
export interface Sink<F extends Frame = Frame> {
  write(frame: F): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** A frame of a live source: `capturedAt` is the wall clock (ms since epoch) when it was read. */
export interface LiveFrame extends Frame {
  capturedAt: number;
  /** Where it came from: the --input source or a viewer's shared camera. */
  origin: 'source' | 'browser';
  /** Browser frames: the sending client's id and its own sequence number. */
  clientId?: number;
  clientSeq?: number;
}

/** A live frame dreamed, on its way to the live outputs (viewers, recording, push). */
export interface DreamedFrame extends LiveFrame {
  /** Output sequence number (0, 1, 2 … in the order frames were dreamed). */
  seq: number;
  /** Quality level the controller dreamed it at (0 = richest). */
  level: number;
  dreamMs: number;
  workingWidth: number;
  workingHeight: number;
  /** Wall clock when dreaming finished (ms since epoch). */
  dreamedAt: number;
}

export interface LiveSourceInfo {
  width: number;
  height: number;
  /** The working rate, frames per second. */
  fps: number;
  /** Short description for logs and /healthz (URLs without credentials). */
  label: string;
  /** The kind of `--input` (sources/live.ts, LiveInput). */
  kind: 'lavfi' | 'device' | 'url' | 'file' | 'browser';
}

export interface LiveSourceStats {
  /** Frames read from ffmpeg (or decoded from the browser). */
  frames: number;
  /** Frames replaced by a newer one before anyone took them. */
  dropped: number;
  reconnects: number;
}

/**
 * A live source: a Source whose iteration yields the newest frames (stale ones are dropped and
 * counted); it ends when the input ends (a file without loop).
 */
export interface LiveSource extends Source<LiveFrame, LiveSourceInfo> {
  readonly stats: LiveSourceStats;
}

/** A picture from a viewer's camera, as the hub hands it to the browser camera source. */
export interface CameraPicture {
  jpeg: Uint8Array;
  clientId: number;
  clientSeq: number;
}

/** Why a camera picture was not used (told to the sending client). */
export type CameraRejection = 'busy' | 'not-jpeg' | 'undecodable' | 'closed';
