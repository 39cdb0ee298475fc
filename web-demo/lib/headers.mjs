// Parsing of the "signed request" view's inputs: headers pasted one `name: value` per line
// (an optional request line such as `POST / HTTP/1.1` first), and a body in hex or base64.

/**
 * Returns { method?, headers: [[name, value]], problems: [string] }. Names are lower-cased, as the
 * SDKs send them and as HTTP/2 delivers them; values lose their leading whitespace only.
 */
export function parseHeaderText(text) {
  const headers = [];
  const problems = [];
  let method;
  const lines = String(text ?? '').split(/\r?\n/);
  lines.forEach((raw, idx) => {
    const line = raw.replace(/\s+$/, '');
    if (line.trim() === '') return;
    const reqLine = /^([A-Z]+)\s+(\S+)\s+HTTP\/[\d.]+$/.exec(line);
    if (reqLine && headers.length === 0 && method === undefined) {
      method = reqLine[1];
      return;
    }
    const colon = line.indexOf(':', line.startsWith(':') ? 1 : 0);
    if (colon <= 0) {
      problems.push(`line ${idx + 1}: expected "name: value", got ${JSON.stringify(line.slice(0, 60))}`);
      return;
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^:?[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
      problems.push(`line ${idx + 1}: ${JSON.stringify(name)} is not a header name`);
      return;
    }
    headers.push([name, line.slice(colon + 1).replace(/^[ \t]+/, '')]);
  });
  return { method, headers, problems };
}

/** Decodes a body given as hex or base64 (whitespace ignored). Throws an Error naming the problem. */
export function decodeBody(text, encoding) {
  const s = String(text ?? '').replace(/\s+/g, '');
  if (encoding === 'hex') {
    if (s.length % 2 !== 0) throw new Error('hex body has an odd number of digits');
    if (!/^[0-9a-fA-F]*$/.test(s)) throw new Error('hex body contains a character that is not a hex digit');
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  if (encoding === 'base64') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 === 1) throw new Error('body is not valid base64');
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  throw new Error(`unknown body encoding ${JSON.stringify(encoding)}`);
}

/** Lower-case hex of bytes. */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Formats headers back to text, one per line (for loading an example into the view). */
export function formatHeaders(obj) {
  return Object.entries(obj)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
}
