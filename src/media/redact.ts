/**
 * Redaction: the one place that decides what of a URL may be printed, logged, put into an error or
 * served (docs/architecture.md, "Redaction"). URLs can carry secrets in three places, and each is
 * replaced by `***`:
 * - user info (`rtsp://user:pass@host`),
 * - every query value (`?token=…`, `?sig=…`, SRT's `streamid=` and `passphrase=`): which names
 *   are secret depends on the server, so none is shown,
 * - RTMP stream keys: everything after the application name (`rtmp://host/app/KEY`).
 * Scheme, host, port and the rest of the path stay, so a message still says where.
 */

const RTMP_SCHEME = /^rtmp[a-z]*$/i;

/** One URL with its secrets replaced by `***`. Text that is not a `scheme://` URL is returned as is. */
export function redactUrl(url: string): string {
  const head = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(url);
  if (!head) return url;
  const scheme = head[1]!;
  const authority = head[2]!;
  const at = authority.lastIndexOf('@');
  const host = at >= 0 ? `***@${authority.slice(at + 1)}` : authority;
  let rest = url.slice(head[0].length);
  const cut = rest.search(/[?#]/);
  let path = cut >= 0 ? rest.slice(0, cut) : rest;
  rest = cut >= 0 ? rest.slice(cut) : '';
  // A value runs to the next `&`: SRT stream ids start with `#!::` and hold `,` and `=`.
  const query = rest.replace(/([?&][^=&?]*=)[^&]*/g, '$1***');
  if (RTMP_SCHEME.test(scheme)) {
    // rtmp://host/app/key (or app/instance/key): keep the application, hide what follows it.
    const parts = path.split('/');
    if (parts.length > 2 && parts.slice(2).some((p) => p !== '')) path = `${parts.slice(0, 2).join('/')}/***`;
  }
  return `${scheme}://${host}${path}${query}`;
}

/** A URL where it starts, up to whitespace or a quote (as tools print them in their messages). */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>`]+/gi;

/** Free text (an error message, a tool's stderr) with every URL in it redacted. */
export function redactText(text: string): string {
  // Punctuation that ends a sentence (`rtsp://host/cam?token=Q: Connection refused`) is not the URL's.
  return text.replace(URL_IN_TEXT, (match) => {
    const url = match.replace(/[:,.;)\]]+$/, '');
    return redactUrl(url) + match.slice(url.length);
  });
}
