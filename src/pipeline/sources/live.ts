/**
 * The live source: a camera, stream, synthetic source or browser cameras, in real time
 * (docs/architecture.md, "The spec").
 */
import { UserError } from '../../errors.js';
import { NAMED_SIZES } from '../../media/size.js';
import { boolean, defineSection, integer, number, string, userCheck } from '../spec/fields.js';

/** Live sizes are exact, even (encoders need it) and bounded. */
export function parseLiveSize(text: string): { width: number; height: number } {
  const named = NAMED_SIZES[text.trim().toLowerCase()];
  // A video height name is 16:9 here: a live feed has no input size to keep the aspect of.
  if (named !== undefined) text = `${2 * Math.round((named * 16) / 9 / 2)}x${named}`;
  const m = /^(\d+)x(\d+)$/i.exec(text.trim());
  if (!m) throw new UserError(`--size must be WxH, e.g. 320x180 (got "${text}")`);
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width < 32 || height < 32 || width > 3840 || height > 2160) throw new UserError(`--size ${text}: each side must be from 32 to 3840x2160`);
  if (width % 2 || height % 2) throw new UserError(`--size ${text}: use even numbers (video encoders need them)`);
  return { width, height };
}

export const section = defineSection({
  kind: 'live',
  role: 'source',
  help: 'a camera, stream, synthetic source or browser cameras, in real time',
  fields: [
    string('input', 'lavfi:testsrc2, /dev/video0, camera:0, an rtsp/http/udp/srt/rtmp URL, a file, or browser', { required: true, short: 'i' }),
    string('size', 'working and output size WxH, even numbers', { default: '320x180', check: userCheck(parseLiveSize) }),
    number('fps', 'frame rate to hold (steps and resolution adapt to it)', { min: 0.5, max: 60, default: 10 }),
    boolean('loop', 'play a file input in a loop', { default: false }),
    boolean('adapt', 'never lower steps or resolution to hold --fps: frames are dropped instead (by default they adapt; the field: adapt false)', {
      negation: 'no-adapt',
      onlyNegation: true,
      default: true,
    }),
    integer('minSteps', 'quality floor: gradient steps per frame never given up to hold --fps (the frame rate drops instead)', { min: 0, max: 8, default: 1 }),
  ],
});
