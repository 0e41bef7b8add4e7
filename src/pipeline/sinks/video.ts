/** The video sink: a video file with the source sound (docs/architecture.md, "The spec"). */
import { defineSection, integer, string } from '../spec/fields.js';

export const section = defineSection({
  kind: 'video',
  role: 'sink',
  help: 'a video file with the source sound',
  fields: [
    string('path', 'output video (.mp4, .m4v, .mov, .mkv, .webm, .avi)', { flag: 'output', required: true, short: 'o' }),
    string('codec', 'video encoder (default libx264; libvpx-vp9 for .webm)'),
    integer('crf', 'quality, lower is better', { min: 0, max: 63, default: 18 }),
  ],
});
