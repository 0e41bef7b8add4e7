/** The image source: one picture, or a synthetic start (docs/architecture.md, "The spec"). */
import { START_KINDS } from '../../sources/synthetic.js';
import { choice, defineSection, INPUT_ALIASES, number, sizeField, string } from '../spec/fields.js';

export const section = defineSection({
  kind: 'image',
  role: 'source',
  help: 'one picture, or a synthetic start',
  fields: [
    string('path', 'image file, or a video with --at', { flag: '', aliases: INPUT_ALIASES }),
    choice('from', START_KINDS, 'start from noise or a flat grey picture instead of a file'),
    number('at', 'a video input: dream its frame at this time, seconds or [HH:]MM:SS.s (what dreamflow video would make of it)', { min: 0, clock: true }),
    sizeField('working size: N (fit the longer side) or WxH; with --from, N means NxN (default 224)'),
  ],
});
