// Maps a JSONPath as policy-core reports it (`$.Policies[1].Resources[0]`) to a line of the
// document text, so the editor can point at the offending line. A small scanner, not a parser:
// it follows the text as far as it is well-formed and records where each value starts.

/** Splits `$.A[1].B` (or `$["A b"][0]`) into ['A', 1, 'B']. Returns null when it is not a path. */
export function splitPath(path) {
  if (typeof path !== 'string' || !path.startsWith('$')) return null;
  const out = [];
  let i = 1;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      let j = i + 1;
      while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
      out.push(path.slice(i + 1, j));
      i = j;
    } else if (c === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) return null;
      const inner = path.slice(i + 1, close);
      if (/^\d+$/.test(inner)) out.push(Number(inner));
      else if (/^["'].*["']$/.test(inner)) out.push(inner.slice(1, -1));
      else return null;
      i = close + 1;
    } else {
      return null;
    }
  }
  return out;
}

/**
 * Returns a Map from path key (segments joined by '\u0000') to the 1-based line where that
 * value (for object members: its key) starts. Stops quietly at the first syntax error.
 */
export function valueLines(text) {
  const lines = new Map();
  let i = 0;
  let line = 1;
  const n = text.length;
  const ws = () => {
    while (i < n) {
      const c = text[i];
      if (c === '\n') line++;
      else if (c !== ' ' && c !== '\t' && c !== '\r') break;
      i++;
    }
  };
  const str = () => {
    // at '"'
    let s = '';
    i++;
    while (i < n && text[i] !== '"') {
      if (text[i] === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          s += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
          continue;
        }
        s += { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' }[e] ?? e;
        i += 2;
        continue;
      }
      if (text[i] === '\n') line++;
      s += text[i++];
    }
    if (i >= n) throw new Error('unterminated string');
    i++;
    return s;
  };
  const value = (path, at) => {
    ws();
    if (!lines.has(path.join('\u0000'))) lines.set(path.join('\u0000'), at ?? line);
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') throw new Error('expected a key');
        const keyLine = line;
        const k = str();
        ws();
        if (text[i] !== ':') throw new Error('expected :');
        i++;
        value([...path, k], keyLine);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return; }
        throw new Error('expected , or }');
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') { i++; return; }
      for (let k = 0; ; k++) {
        ws();
        value([...path, k]);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return; }
        throw new Error('expected , or ]');
      }
    } else if (c === '"') {
      str();
    } else {
      const m = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 64));
      if (!m) throw new Error('unexpected character');
      i += m[0].length;
    }
  };
  try {
    value([]);
  } catch {
    // keep what was found before the error
  }
  return lines;
}

/** The line of `path` in `text`, else of its nearest enclosing value, else null. */
export function lineOfPath(text, path, cache) {
  const segs = splitPath(path);
  if (!segs) return null;
  const lines = cache ?? valueLines(text);
  for (let k = segs.length; k >= 0; k--) {
    const l = lines.get(segs.slice(0, k).join('\u0000'));
    if (l !== undefined) return l;
  }
  return null;
}

/** Finds "line N" in a parser message (serde_json: "... at line 3 column 5"). */
export function lineInMessage(message) {
  const m = /\bline (\d+)/i.exec(String(message ?? ''));
  return m ? Number(m[1]) : null;
}

/** Adds `line` to each error: from the message when it names one, else from the path. */
export function withLines(text, errors) {
  const cache = valueLines(text);
  return errors.map((e) => ({ ...e, line: lineInMessage(e.message) ?? lineOfPath(text, e.path, cache) }));
}
