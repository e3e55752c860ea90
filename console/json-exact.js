// A JSON parser that reads numbers as Python's json module does: integers exactly (BigInt),
// numbers with a fraction or exponent as floats (PyFloat). JSON.parse would round integers
// above 2^53, and a proof's sequence numbers and timestamps are 64-bit. Also as Python:
// NaN, Infinity and -Infinity are accepted, duplicate keys keep the last value, control
// characters inside strings are refused, lone surrogates in \u escapes are kept.

/** A JSON number with a fraction or exponent (Python float). */
export class PyFloat {
  constructor(value) {
    this.value = value;
  }

  toString() {
    return String(this.value);
  }
}

export class JSONSyntaxError extends Error {}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;
const SPACE = /[ \t\n\r]*/y;
const ESCAPES = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Parses `text`; throws JSONSyntaxError with the position of the first problem. */
export function parseJSONExact(text) {
  let at = 0;
  const fail = (what) => {
    throw new JSONSyntaxError(`${what} at character ${at}`);
  };
  const skipSpace = () => {
    SPACE.lastIndex = at;
    SPACE.exec(text);
    at = SPACE.lastIndex;
  };

  function string() {
    at += 1; // opening quote
    let out = '';
    let start = at;
    for (;;) {
      if (at >= text.length) fail('unterminated string');
      const c = text.charCodeAt(at);
      if (c === 0x22) break;
      if (c < 0x20) fail('invalid control character in a string');
      if (c !== 0x5c) {
        at += 1;
        continue;
      }
      out += text.slice(start, at);
      const e = text[at + 1];
      if (e === 'u') {
        const hex = text.slice(at + 2, at + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\u escape');
        out += String.fromCharCode(parseInt(hex, 16)); // surrogate pairs join as JS strings do
        at += 6;
      } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
        out += ESCAPES[e];
        at += 2;
      } else fail('invalid escape');
      start = at;
    }
    out += text.slice(start, at);
    at += 1; // closing quote
    return out;
  }

  function value() {
    skipSpace();
    const c = text[at];
    if (c === '{') {
      at += 1;
      const obj = {};
      skipSpace();
      if (text[at] === '}') {
        at += 1;
        return obj;
      }
      for (;;) {
        skipSpace();
        if (text[at] !== '"') fail('expected a property name');
        const key = string();
        skipSpace();
        if (text[at] !== ':') fail("expected ':'");
        at += 1;
        // defineProperty: a key named __proto__ is an ordinary key, as in Python.
        Object.defineProperty(obj, key, { value: value(), enumerable: true, writable: true, configurable: true });
        skipSpace();
        if (text[at] === ',') at += 1;
        else if (text[at] === '}') {
          at += 1;
          return obj;
        } else fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      at += 1;
      const list = [];
      skipSpace();
      if (text[at] === ']') {
        at += 1;
        return list;
      }
      for (;;) {
        list.push(value());
        skipSpace();
        if (text[at] === ',') at += 1;
        else if (text[at] === ']') {
          at += 1;
          return list;
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [word, result] of [['true', true], ['false', false], ['null', null],
      ['NaN', new PyFloat(NaN)], ['Infinity', new PyFloat(Infinity)], ['-Infinity', new PyFloat(-Infinity)]]) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return result;
      }
    }
    NUMBER.lastIndex = at;
    const m = NUMBER.exec(text);
    if (!m) fail('expected a value');
    at = NUMBER.lastIndex;
    return m[1] === undefined && m[2] === undefined ? BigInt(m[0]) : new PyFloat(Number(m[0]));
  }

  const result = value();
  skipSpace();
  if (at !== text.length) fail('extra data');
  return result;
}
