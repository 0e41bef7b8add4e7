/**
 * `--record out.mp4` for live jobs: the video issue's FrameEncoder (temp file renamed into place
 * on success), fed at a constant rate by a PacedWriter so the recording plays in real time.
 */
import { FrameEncoder } from '../media/encoder.js';
import { PacedWriter, fpsRational } from './paced.js';

export async function openRecording(path: string, size: { width: number; height: number }, fps: number, onError: (err: Error) => void): Promise<PacedWriter> {
  // veryfast: live recording must keep up with real time on two cores that are busy dreaming.
  const encoder = await FrameEncoder.open(path, { width: size.width, height: size.height, fps: fpsRational(fps), preset: 'veryfast', crf: 20 });
  return new PacedWriter(encoder, fps, `recording ${path}`, onError);
}
