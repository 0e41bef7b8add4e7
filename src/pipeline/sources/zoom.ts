/**
 * The zoom source: a still zoomed into frame after frame, each frame the previous dream moved
 * (Google's zoom; docs/architecture.md, "The spec").
 */
import { parsePan } from '../../temporal/zoom.js';
import { defineSection, INPUT_ALIASES, number, sizeField, string, userCheck, type SettingsOf } from '../spec/fields.js';

export const section = defineSection({
  kind: 'zoom',
  role: 'source',
  help: "a still zoomed into frame after frame, each frame the previous dream moved (Google's zoom)",
  fields: [
    string('path', 'image file to start from', { flag: '', required: true, aliases: INPUT_ALIASES }),
    sizeField('working and output size: N (fit the longer side) or WxH', { default: '512' }),
    number('duration', 'seconds of animation (or [HH:]MM:SS.s)', { min: 0.001, max: 86400, aliases: ['t'], clock: true, default: 4 }),
    number('fps', 'frame rate', { min: 0.1, max: 240, default: 12 }),
    number('zoom', 'scale per frame about the centre (>1 zooms in)', { min: 0.5, max: 2, default: 1.04 }),
    number('rotate', 'degrees per frame, counter-clockwise', { min: -90, max: 90, default: 0 }),
    string('pan', 'DX,DY: pixels per frame the picture moves right and down', { default: '0,0', check: userCheck(parsePan) }),
    string('audio', 'soundtrack to add (cut to the animation; --react follows it)'),
  ],
});

export type ZoomSourceSettings = SettingsOf<typeof section>;
