/**
 * What the farm reads from a `dreamflow video` spec: the input and its window, the working size
 * asked for, and the output with its codec and quality. The coordinator and every worker read
 * them from the same spec, so a job carries them once (docs/architecture.md, "The farm").
 */
import { UserError } from '../errors.js';
import { videoCodecFor } from '../media/encoder.js';
import { parseSize, type SizeSpec } from '../media/size.js';
import { sourceSettings, type PipelineSpec } from '../pipeline/spec.js';
import { section as videoSource } from '../pipeline/sources/video.js';

export interface FarmVideo {
  input: string;
  output: string;
  /** `--size`, or the input's own size when absent. */
  size: SizeSpec | undefined;
  start: number | undefined;
  duration: number | undefined;
  /** The encoder's video codec (the container's default when the spec names none). */
  codec: string;
  /** `--crf` as given (the encoder's default when absent). */
  crf: number | undefined;
}

/** The farm's reading of a video spec; a container that cannot hold the codec is one line. */
export function farmVideoOf(spec: PipelineSpec): FarmVideo {
  const source = sourceSettings(spec, videoSource);
  // The sink as given, not filled: a crf left out stays the encoder's own choice per codec.
  const sink = spec.sinks.find((s) => s.kind === 'video');
  if (!source || !sink || typeof sink.path !== 'string') throw new UserError('farm: the spec is not a video file to a video file');
  return {
    input: source.path,
    output: sink.path,
    size: source.size ? parseSize(source.size) : undefined,
    start: source.start,
    duration: source.duration,
    codec: videoCodecFor(sink.path, typeof sink.codec === 'string' ? sink.codec : undefined),
    crf: typeof sink.crf === 'number' ? sink.crf : undefined,
  };
}
