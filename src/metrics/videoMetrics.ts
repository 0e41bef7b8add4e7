import { computeFlowPair } from '../flow/index.js';
import { FrameDecoder } from '../media/decoder.js';
import type { Frame } from '../frame.js';
import { UserError } from '../errors.js';
import { mean, warpingError } from './warpingError.js';

export interface VideoMetrics {
  frames: number;
  width: number;
  height: number;
  /** E_warp of the input and of the output (docs/architecture.md). */
  ewarpInput: number;
  ewarpOutput: number;
  /** E_warp(output) / E_warp(input): 1 is as steady as the input, lower is steadier. */
  flickerRatio: number;
  /** E(t) per consecutive pair, for plots. */
  perFrame: { input: number[]; output: number[] };
  /** Mean dream gain over frames, when a gain function was given. */
  dreamGain?: number;
}

export interface MeasureOptions {
  /** Trim of the input that the output was made from (as given to `dreamflow video`). */
  start?: number | undefined;
  duration?: number | undefined;
  /** Size both videos are compared at (default: the output's). */
  width?: number | undefined;
  height?: number | undefined;
  /** Dream gain of an (input, output) frame pair, averaged over frames if given. */
  gainOf?: (input: Frame, output: Frame) => Promise<number | undefined>;
  /** Width the flow is estimated at. */
  flowMaxWidth?: number;
}

/**
 * Decode an input video and its dreamed output side by side at one size and measure temporal
 * stability exactly as docs/architecture.md defines it: flow on consecutive INPUT frames, warping error of
 * input and output under that flow, and their ratio.
 */
export async function measureVideos(inputPath: string, outputPath: string, opts: MeasureOptions = {}): Promise<VideoMetrics> {
  const out = await FrameDecoder.open(outputPath, {});
  const size = { width: opts.width ?? out.info.width, height: opts.height ?? out.info.height };
  await out.close();
  // The job that made the output already reported what its decoder noticed about the input.
  const quiet = (): void => undefined;
  const input = await FrameDecoder.open(inputPath, { size, start: opts.start, duration: opts.duration, onWarning: quiet });
  const output = await FrameDecoder.open(outputPath, { size, onWarning: quiet });
  const perFrame = { input: [] as number[], output: [] as number[] };
  const gains: number[] = [];
  let prevIn: Frame | undefined;
  let prevOut: Frame | undefined;
  let frames = 0;
  const outputs = output[Symbol.asyncIterator]();
  try {
    for await (const inFrame of input) {
      const next = await outputs.next();
      if (next.done) break;
      const outFrame = next.value;
      frames++;
      if (prevIn && prevOut) {
        const flow = await computeFlowPair(prevIn, inFrame, { maxWidth: opts.flowMaxWidth ?? 256 });
        perFrame.input.push(warpingError(prevIn.data, inFrame.data, size.width, size.height, flow));
        perFrame.output.push(warpingError(prevOut.data, outFrame.data, size.width, size.height, flow));
      }
      if (opts.gainOf) {
        const g = await opts.gainOf(inFrame, outFrame);
        if (g !== undefined) gains.push(g);
      }
      prevIn = inFrame;
      prevOut = outFrame;
    }
  } finally {
    await input.close();
    await output.close();
  }
  if (frames < 2) throw new UserError('metrics need at least two frames in both videos');
  const ewarpInput = mean(perFrame.input);
  const ewarpOutput = mean(perFrame.output);
  const result: VideoMetrics = {
    frames,
    ...size,
    ewarpInput,
    ewarpOutput,
    flickerRatio: ewarpInput > 0 ? ewarpOutput / ewarpInput : Number.NaN,
    perFrame,
  };
  if (gains.length > 0) result.dreamGain = mean(gains);
  return result;
}

/** The flicker ratio of a dreamed video against the input it was made from. */
export async function measureFlicker(inputPath: string, outputPath: string, opts: MeasureOptions = {}): Promise<number> {
  return (await measureVideos(inputPath, outputPath, opts)).flickerRatio;
}
