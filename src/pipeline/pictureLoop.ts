/**
 * Picture jobs through the one run loop (docs/architecture.md, "The data flow of one frame"):
 * a picture source yields frames that carry their float picture, the dream stage dreams each one
 * whole from that float start (a `--from noise` start does not survive a byte frame), and the
 * picture sink measures the dream gain and writes the picture with its recipe.
 */
import { dream, dreamGain, type DreamProgress, type DreamSettings } from '../dream/deepdream.js';
import { fromBytes, toBytes, type RgbImage } from '../dream/image.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import type { Frame, Sink } from '../frame.js';
import { writeImage } from '../sinks/imageFile.js';
import type { DreamSpec } from './dream.js';
import { makeRecipe, recipeProvenance, type StartPicture } from './recipe.js';
import type { ChainedFrame } from './runLoop.js';
import type { DreamingFactory, TunableStage } from './stageModule.js';

/** Where a picture came from, as its recipe says it. */
export type PictureStart = Pick<StartPicture, 'input' | 'from' | 'size' | 'at'>;

/** A frame of a picture job: its bytes, and the float picture they were rounded from. */
export interface PictureFrame extends Frame {
  picture: RgbImage;
  start: PictureStart;
  /** Where the dreamed picture goes (an image sink's path, or a file in a folder sink's folder). */
  target: string;
}

export function pictureFrame(picture: RgbImage, index: number, start: PictureStart, target: string): PictureFrame {
  return { index, ptsSeconds: 0, width: picture.width, height: picture.height, data: toBytes(picture), picture, start, target };
}

function isPictureFrame(frame: Frame): frame is PictureFrame {
  return 'picture' in frame && 'start' in frame && 'target' in frame;
}

/** The float picture of a frame: a picture frame's own, any other frame's bytes. */
function pictureOf(frame: Frame): RgbImage {
  return isPictureFrame(frame) ? frame.picture : fromBytes(frame.width, frame.height, frame.data);
}

/** What a picture job hears from its dream stage. */
export interface PictureHooks {
  /** Each gradient step of a picture's dream. */
  onProgress?: ((p: DreamProgress) => void) | undefined;
  /** Stops the dream at the next step with a Stopped error. */
  signal?: AbortSignal | undefined;
  /** A picture's dream has ended (before its gain is measured and it is written). */
  onDreamed?: (() => void) | undefined;
}

/**
 * The dreaming of a picture job's dream stage (StageContext.dreaming): every picture dreamed whole
 * with the full settings, from its float start. It carries nothing from one picture to the next.
 */
export class PictureDreamStage implements TunableStage {
  constructor(
    private readonly runner: GradientRunner,
    private objective: Objective,
    private settings: DreamSettings,
    private readonly hooks: PictureHooks = {},
  ) {}

  async process(frame: Frame): Promise<Frame> {
    const result = await dream(this.runner, pictureOf(frame), this.objective, this.settings, this.hooks.onProgress, this.hooks.signal);
    this.hooks.onDreamed?.();
    const start: PictureStart = isPictureFrame(frame) ? frame.start : { input: null, from: null, size: null };
    return pictureFrame(result, frame.index, start, isPictureFrame(frame) ? frame.target : '');
  }

  update(changes: Parameters<TunableStage['update']>[0]): void {
    if (changes.objective) this.objective = changes.objective;
    if (changes.settings?.dream) this.settings = changes.settings.dream;
  }

  snapshot(): undefined {
    return undefined;
  }

  restore(): void {
    // Nothing is carried between pictures, so nothing comes back.
  }
}

export function pictureDreaming(hooks: PictureHooks): DreamingFactory {
  return (runner, objective, temporal) => new PictureDreamStage(runner, objective, temporal.dream, hooks);
}

/** What the picture sink writes each picture with. */
export interface PictureSinkOptions {
  /** The command named in each picture's recipe. */
  command: string;
  runner: GradientRunner;
  objective: Objective;
  dream: DreamSpec;
  settings: DreamSettings;
  /** A picture is written (stills: progress). */
  onWritten?: ((frame: PictureFrame) => void) | undefined;
}

/**
 * The image and folder sinks of picture jobs: each dreamed picture measured against its start
 * (dream gain) and written, atomically, to its target with its recipe embedded.
 */
export class PictureSink implements Sink<ChainedFrame> {
  /** The dream gain of every picture written that had one. */
  readonly gains: number[] = [];
  /** The dream gain of the last picture written (undefined: none, or it had none). */
  lastGain: number | undefined;

  constructor(private readonly opts: PictureSinkOptions) {}

  async write(out: ChainedFrame): Promise<void> {
    const { runner, objective, settings } = this.opts;
    const input = out.input;
    if (!isPictureFrame(input)) throw new Error('a picture sink takes the frames of a picture source');
    const result = pictureOf(out);
    const gain = await dreamGain(runner, input.picture, result, objective, settings.tile);
    if (gain !== undefined) this.gains.push(gain);
    // Each picture carries the settings that made it.
    const recipe = makeRecipe(this.opts.command, input.start, result, runner, this.opts.dream, objective, settings, gain);
    await writeImage(input.target, result, recipeProvenance(recipe, input.target));
    this.lastGain = gain;
    this.opts.onWritten?.(input);
  }

  async close(): Promise<void> {}

  async abort(): Promise<void> {
    // Each picture is written whole (temp file, then rename): nothing partial to remove.
  }
}
