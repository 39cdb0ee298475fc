// Playground state in the URL fragment: `#z=<base64url(deflate-raw(json))>` when the browser has
// CompressionStream, else `#u=<base64url(utf-8 json)>`. Both forms are always readable back
// (decoding `z` needs DecompressionStream, present wherever CompressionStream is).

function toB64Url(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromB64Url(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function pipe(bytes, stream) {
  const res = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await res.arrayBuffer());
}

/** Encodes a JSON-serializable state as a fragment (without the leading '#'). */
export async function encodeState(state, { compress = true } = {}) {
  const bytes = new TextEncoder().encode(JSON.stringify(state));
  if (compress && typeof CompressionStream === 'function') {
    try {
      return 'z=' + toB64Url(await pipe(bytes, new CompressionStream('deflate-raw')));
    } catch {
      // fall through to the plain form
    }
  }
  return 'u=' + toB64Url(bytes);
}

/** Decodes a fragment made by encodeState; returns null when it is absent or unreadable. */
export async function decodeState(fragment) {
  const f = String(fragment ?? '').replace(/^#/, '');
  try {
    let bytes;
    if (f.startsWith('z=')) {
      if (typeof DecompressionStream !== 'function') return null;
      bytes = await pipe(fromB64Url(f.slice(2)), new DecompressionStream('deflate-raw'));
    } else if (f.startsWith('u=')) {
      bytes = fromB64Url(f.slice(2));
    } else {
      return null;
    }
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}
