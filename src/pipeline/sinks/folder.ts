/** The folder sink: a folder of pictures, same names (docs/architecture.md, "The spec"). */
import { defineSection, string } from '../spec/fields.js';

export const section = defineSection({
  kind: 'folder',
  role: 'sink',
  help: 'a folder of pictures, same names',
  fields: [string('path', 'output folder', { flag: 'output', required: true, short: 'o' })],
});
