/**
 * The viewer protocol on ws://HOST:PORT/ws. Pure functions, shared by the server and tests.
 *
 * Server → viewer, binary: one message per dreamed frame, a 40-byte little-endian header then
 * the JPEG:
 *
 *   0  4 bytes  magic "DFL1"
 *   4  u32      output sequence number
 *   8  f64      capture time, ms since the epoch (server clock)
 *  16  f64      send time, ms since the epoch (server clock)
 *  24  u16      width     26  u16  height
 *  28  u8       flags (bit 0: from a viewer's shared camera)
 *  29  u8       controller level (0 = richest)
 *  30  u16      dreaming time, ms (capped at 65535)
 *  32  u32      camera frames: the sending client's id (0 otherwise)
 *  36  u32      camera frames: the client's own sequence number; else the source frame index
 *
 * Viewer → server, binary: a camera picture, "DFC1", u32 sequence number (LE), then the JPEG.
 * Text (JSON): {type:"settings", layer?, step?, iterations?}, {type:"auth", token}.
 * Server → viewer, text (JSON): hello, settings, ack, error, stats.
 */

export const FRAME_MAGIC = 'DFL1';
export const FRAME_HEADER_BYTES = 40;
export const CAMERA_MAGIC = 'DFC1';
export const CAMERA_HEADER_BYTES = 8;
export const FLAG_BROWSER = 1;

export interface FrameHeader {
  seq: number;
  capturedAt: number;
  sentAt: number;
  width: number;
  height: number;
  flags: number;
  level: number;
  dreamMs: number;
  clientId: number;
  sourceSeq: number;
}

/** Header + JPEG in one buffer, so every viewer is sent the same bytes without copying. */
export function encodeFrameMessage(h: FrameHeader, jpeg: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + jpeg.length);
  buf.write(FRAME_MAGIC, 0, 'ascii');
  buf.writeUInt32LE(h.seq >>> 0, 4);
  buf.writeDoubleLE(h.capturedAt, 8);
  buf.writeDoubleLE(h.sentAt, 16);
  buf.writeUInt16LE(Math.min(65535, h.width), 24);
  buf.writeUInt16LE(Math.min(65535, h.height), 26);
  buf.writeUInt8(h.flags & 0xff, 28);
  buf.writeUInt8(Math.min(255, h.level), 29);
  buf.writeUInt16LE(Math.min(65535, Math.round(h.dreamMs)), 30);
  buf.writeUInt32LE(h.clientId >>> 0, 32);
  buf.writeUInt32LE(h.sourceSeq >>> 0, 36);
  buf.set(jpeg, FRAME_HEADER_BYTES);
  return buf;
}

export function decodeFrameMessage(data: Uint8Array): { header: FrameHeader; jpeg: Uint8Array } | undefined {
  if (data.length < FRAME_HEADER_BYTES) return undefined;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  if (buf.toString('ascii', 0, 4) !== FRAME_MAGIC) return undefined;
  return {
    header: {
      seq: buf.readUInt32LE(4),
      capturedAt: buf.readDoubleLE(8),
      sentAt: buf.readDoubleLE(16),
      width: buf.readUInt16LE(24),
      height: buf.readUInt16LE(26),
      flags: buf.readUInt8(28),
      level: buf.readUInt8(29),
      dreamMs: buf.readUInt16LE(30),
      clientId: buf.readUInt32LE(32),
      sourceSeq: buf.readUInt32LE(36),
    },
    jpeg: data.subarray(FRAME_HEADER_BYTES),
  };
}

export function encodeCameraMessage(seq: number, jpeg: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(CAMERA_HEADER_BYTES + jpeg.length);
  buf.write(CAMERA_MAGIC, 0, 'ascii');
  buf.writeUInt32LE(seq >>> 0, 4);
  buf.set(jpeg, CAMERA_HEADER_BYTES);
  return buf;
}

export function decodeCameraMessage(data: Buffer): { seq: number; jpeg: Uint8Array } | undefined {
  if (data.length <= CAMERA_HEADER_BYTES || data.toString('ascii', 0, 4) !== CAMERA_MAGIC) return undefined;
  return { seq: data.readUInt32LE(4), jpeg: data.subarray(CAMERA_HEADER_BYTES) };
}

export type ClientMessage =
  | { type: 'settings'; layer?: string; step?: number; iterations?: number }
  | { type: 'auth'; token: string };

/** Text messages are small; anything longer is refused before parsing. */
export const MAX_TEXT_BYTES = 4096;

/** Parse and check a text message; `error` is a one-line reason for the client. */
export function parseClientMessage(text: string): { message: ClientMessage } | { error: string } {
  if (text.length > MAX_TEXT_BYTES) return { error: `text messages are limited to ${MAX_TEXT_BYTES} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: 'malformed message: not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'malformed message: expected a JSON object' };
  const v = value as Record<string, unknown>;
  switch (v.type) {
    case 'settings': {
      const out: { type: 'settings'; layer?: string; step?: number; iterations?: number } = { type: 'settings' };
      for (const key of Object.keys(v)) {
        if (!['type', 'layer', 'step', 'iterations'].includes(key)) return { error: `settings: unknown field "${key.slice(0, 40)}"` };
      }
      if (v.layer !== undefined) {
        if (typeof v.layer !== 'string') return { error: 'settings: layer must be a string' };
        out.layer = v.layer;
      }
      if (v.step !== undefined) {
        if (typeof v.step !== 'number') return { error: 'settings: step must be a number' };
        out.step = v.step;
      }
      if (v.iterations !== undefined) {
        if (typeof v.iterations !== 'number') return { error: 'settings: iterations must be a number' };
        out.iterations = v.iterations;
      }
      return { message: out };
    }
    case 'auth':
      if (typeof v.token !== 'string') return { error: 'auth: token must be a string' };
      return { message: { type: 'auth', token: v.token } };
    default:
      return { error: `unknown message type ${JSON.stringify(typeof v.type === 'string' ? v.type.slice(0, 40) : v.type ?? null)}` };
  }
}

/** What viewers may change while the stream runs. */
export interface LiveControls {
  /** Layer description, e.g. `inception_4c/output` (several for composed objectives). */
  layer: string;
  /** Normalised step size ("strength"). */
  step: number;
  /** Gradient steps per frame at the richest level. */
  iterations: number;
}

export interface ControlChanges {
  layer?: string;
  step?: number;
  iterations?: number;
}
