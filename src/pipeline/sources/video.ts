/** The video source: a video file (docs/architecture.md, "The spec"). */
import { defineSection, INPUT_ALIASES, number, sizeField, string, type SettingsOf } from '../spec/fields.js';

export const section = defineSection({
  kind: 'video',
  role: 'source',
  help: 'a video file',
  fields: [
    string('path', 'video file', { flag: '', required: true, aliases: INPUT_ALIASES }),
    sizeField("working and output size: N (fit the longer side), WxH, or 360p, 480p, 720p, 1080p, 4k (the shorter side) (default: the input's)"),
    number('start', 'seconds (or [HH:]MM:SS.s) into the input to start', { min: 0, aliases: ['ss'], clock: true }),
    number('duration', 'seconds (or [HH:]MM:SS.s) to dream', { min: 0.001, aliases: ['t'], clock: true }),
    number('fps', "output frame rate: the input's frames repeated or dropped by their timestamps (default: the input's rate)", { min: 0.1, max: 240 }),
  ],
});

export type VideoSourceSettings = SettingsOf<typeof section>;
