/** The record sink: a recording of the live stream (docs/architecture.md, "The spec"). */
import { defineSection, string } from '../spec/fields.js';

export const section = defineSection({
  kind: 'record',
  role: 'sink',
  help: 'record the live stream',
  fields: [string('path', 'also record the dreamed stream (.mp4, .mkv, .mov, .webm)', { flag: 'record', required: true })],
});
