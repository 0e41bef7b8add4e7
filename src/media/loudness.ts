/**
 * The soundtrack's loudness per frame (docs/architecture.md, "Schedules and reaction"): ffmpeg
 * decodes the audio to mono 16-bit samples at a low rate, the RMS of each frame period is taken,
 * smoothed (attack and release alike, time constant `smoothing` seconds) and divided by the
 * loudest frame's, so 0 is silence and 1 the loudest moment of the clip.
 */
import { UserError } from '../errors.js';
import type { Rational } from '../frame.js';
import { MediaToolError, ffmpegRun } from './run.js';

/** Samples per second the envelope is measured at: enough for loudness, cheap to decode. */
const SAMPLE_RATE = 8000;

/** RMS of each frame period of mono s16 samples (pure). */
export function framePeriodRms(samples: Int16Array, sampleRate: number, fps: Rational, frames: number): Float32Array {
  const out = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    const a = Math.floor((i * fps.den * sampleRate) / fps.num);
    const b = Math.min(samples.length, Math.floor(((i + 1) * fps.den * sampleRate) / fps.num));
    let sum = 0;
    for (let j = a; j < b; j++) sum += (samples[j]! / 32768) ** 2;
    out[i] = b > a ? Math.sqrt(sum / (b - a)) : 0;
  }
  return out;
}

/** Exponential smoothing with time constant `seconds` at `fps`, then scaled so the loudest is 1 (pure). */
export function smoothEnvelope(rms: Float32Array, fps: Rational, seconds: number): Float32Array {
  const out = new Float32Array(rms.length);
  const period = fps.den / fps.num;
  const a = seconds > 0 ? 1 - Math.exp(-period / seconds) : 1;
  let level = rms[0] ?? 0;
  let peak = 0;
  for (let i = 0; i < rms.length; i++) {
    level += a * (rms[i]! - level);
    out[i] = level;
    peak = Math.max(peak, level);
  }
  // A silent track stays silent rather than being scaled up from nothing.
  if (peak > 1e-4) for (let i = 0; i < out.length; i++) out[i] = out[i]! / peak;
  else out.fill(0);
  return out;
}

/** The loudness envelope of `path`'s first audio stream from `start`, one value per frame. */
export async function loudnessEnvelope(
  path: string,
  opts: { fps: Rational; frames?: number | undefined; start?: number | undefined; smoothing: number },
): Promise<Float32Array> {
  const args = ['-i', path];
  if (opts.start) args.splice(0, 0, '-ss', String(opts.start));
  args.push('-map', '0:a:0', '-vn', '-ac', '1', '-ar', String(SAMPLE_RATE), '-f', 's16le', '-');
  let stdout: Buffer;
  try {
    ({ stdout } = await ffmpegRun(args));
  } catch (err) {
    if (err instanceof MediaToolError) throw new UserError(`--react: cannot read the sound of ${path} (${err.message.split('\n')[0]})`);
    throw err;
  }
  if (stdout.length < 2) throw new UserError(`--react: ${path} has no sound to react to`);
  // Copied when needed: a Buffer's byteOffset need not be even.
  const count = Math.floor(stdout.length / 2);
  const samples = stdout.byteOffset % 2 === 0 ? new Int16Array(stdout.buffer, stdout.byteOffset, count) : new Int16Array(new Uint8Array(stdout).buffer, 0, count);
  // Frames past the sound's end are silent; without a frame count, as many as the sound lasts.
  const frames = opts.frames ?? Math.ceil((count * opts.fps.num) / (opts.fps.den * SAMPLE_RATE));
  return smoothEnvelope(framePeriodRms(samples, SAMPLE_RATE, opts.fps, frames), opts.fps, opts.smoothing);
}
