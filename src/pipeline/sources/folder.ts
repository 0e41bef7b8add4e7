/** The folder source: every picture of a folder (docs/architecture.md, "The spec"). */
import { defineSection, INPUT_ALIASES, sizeField, string } from '../spec/fields.js';

export const section = defineSection({
  kind: 'folder',
  role: 'source',
  help: 'every picture of a folder',
  fields: [string('path', 'folder of pictures', { flag: '', required: true, aliases: INPUT_ALIASES }), sizeField('working size: N (fit the longer side) or WxH')],
});
