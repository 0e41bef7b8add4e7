/** The image sink: an image file (docs/architecture.md, "The spec"). */
import { defineSection, string } from '../spec/fields.js';

export const section = defineSection({
  kind: 'image',
  role: 'sink',
  help: 'an image file',
  fields: [string('path', 'output image (.jpg, .png, .webp, .tif, .avif, .gif)', { flag: 'output', required: true, short: 'o' })],
});
