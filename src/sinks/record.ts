/**
 * `--record out.mp4` for live jobs: the video issue's FrameEncoder (temp file renamed into place
 * on success), fed at a constant rate by a PacedWriter so the recording plays in real time.
 */
import { extname } from 'node:path';
import { UserError } from '../errors.js';
import type { LiveFrame } from '../frame.js';
import { FrameEncoder } from '../media/encoder.js';
import { PCM_CHANNELS, PCM_RATE, type PcmFeed } from '../media/liveAudio.js';
import { WithSound } from './liveSound.js';
import { PacedWriter, fpsRational } from './paced.js';

/** Containers a live recording (H.264 and AAC, veryfast) can be written to. */
const LIVE_CONTAINERS = new Set(['.mp4', '.m4v', '.mov', '.mkv']);

/**
 * Refuse, before any work, a recording that cannot be written: the container must hold H.264
 * (`x.gif` would start, warn "Error initializing output stream" and leave nothing). Pure.
 */
export function checkLiveRecording(path: string): void {
  const ext = extname(path).toLowerCase();
  if (!LIVE_CONTAINERS.has(ext)) {
    throw new UserError(`--record ${path}: ${ext ? `${ext} cannot hold` : 'no extension, so no container for'} a live recording (H.264 video and AAC sound): use .mp4, .mkv or .mov`);
  }
}

/** A live recording; with `sound`, the input's sound goes in too, in sync (sinks/liveSound.ts). */
export async function openRecording(path: string, size: { width: number; height: number }, fps: number, onError: (err: Error) => void, sound?: PcmFeed): Promise<PacedWriter<LiveFrame>> {
  // veryfast: live recording must keep up with real time on two cores that are busy dreaming.
  const encoder = await FrameEncoder.open(path, {
    width: size.width,
    height: size.height,
    fps: fpsRational(fps),
    preset: 'veryfast',
    crf: 20,
    ...(sound ? { pcmAudio: { sampleRate: PCM_RATE, channels: PCM_CHANNELS } } : {}),
  });
  return new PacedWriter<LiveFrame>(sound ? new WithSound(encoder, sound, fps) : encoder, fps, `recording ${path}`, onError);
}
