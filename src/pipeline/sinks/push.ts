/** The push sink: the live output streamed to a server (docs/architecture.md, "The spec"). */
import { defineSection, string } from '../spec/fields.js';

export const section = defineSection({
  kind: 'push',
  role: 'sink',
  help: 'stream the live output',
  fields: [string('url', 'also stream it: rtmp://, srt://, udp:// or an HLS playlist .m3u8', { flag: 'push', required: true })],
});
