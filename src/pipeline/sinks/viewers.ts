/** The viewers sink: the HTTP + WebSocket viewer hub of a live job (docs/architecture.md, "The spec"). */
import { defineSection, integer, string, strings, type FieldValue } from '../spec/fields.js';

/** The shortest token (--token, --viewer-token or their environment variables) taken. */
export const MIN_TOKEN_LENGTH = 8;

const tokenCheck = (v: FieldValue): string | undefined => (String(v).length < MIN_TOKEN_LENGTH ? `must be at least ${MIN_TOKEN_LENGTH} characters` : undefined);

export const section = defineSection({
  kind: 'viewers',
  role: 'sink',
  help: 'the HTTP + WebSocket viewer hub',
  fields: [
    integer('port', 'HTTP and WebSocket port (0 picks a free one)', { min: 0, max: 65535, default: 8080 }),
    string('host', 'address to listen on (127.0.0.1: this machine only)', { default: '127.0.0.1' }),
    string('token', 'needed to change settings and share a camera (or env DREAMFLOW_TOKEN)', { check: tokenCheck }),
    string('viewerToken', 'needed to watch (or env DREAMFLOW_VIEWER_TOKEN); open URL?token=T', { check: tokenCheck }),
    strings('allowOrigin', 'also accept browsers from this origin (repeatable)'),
    integer('viewersPerAddress', 'most viewers without a token from one address (an IPv6 /64), of 64 in all; 0: no limit (behind a proxy)', {
      min: 0,
      max: 64,
      default: 8,
    }),
  ],
});
