// Checks of a JSON text made before (or instead of) trusting JSON.parse's view of it: nesting depth (a body
// nested 100 000 deep parses, but every later step that walks it would overflow the stack) and duplicate
// member names, which parsers resolve differently (JSON.parse keeps the last, some keep the first): a
// text with them could be authorized as one thing and acted on as another (RFC 8259 §4, RFC 7493 §2.3).

/** Deepest nesting the gateway accepts in a body (objects and arrays; docs/errors.md NESTING_TOO_DEEP). */
export const MAX_JSON_DEPTH = 64;

export type JsonTextProblem = { readonly kind: "too-deep" } | { readonly kind: "duplicate-member"; readonly name: string };

const TOO_DEEP: JsonTextProblem = Object.freeze({ kind: "too-deep" });

/**
 * The first problem of `text` as a JSON text, or undefined. Strings are skipped (brackets inside do not
 * count); member names are compared after unescaping ("a" and "\u0061" are the same name). Not a validator:
 * malformed text is JSON.parse's to reject, and may pass here.
 */
export function checkJsonText(text: string, maxDepth = MAX_JSON_DEPTH): JsonTextProblem | undefined {
  // Names seen per open object (null for an array); small objects use an array, larger ones a Set.
  const names: Array<string[] | Set<string> | null> = [];
  let depth = 0;
  let expectName = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      i = stringEnd(text, i);
      if (!expectName) continue;
      expectName = false;
      const name = stringAt(text, start, i);
      if (name === undefined) return undefined; // not JSON: the parser says so
      const seen = names[depth - 1];
      if (!seen) continue;
      if (Array.isArray(seen)) {
        if (seen.includes(name)) return { kind: "duplicate-member", name };
        if (seen.length < 8) seen.push(name);
        else names[depth - 1] = new Set([...seen, name]);
      } else {
        if (seen.has(name)) return { kind: "duplicate-member", name };
        seen.add(name);
      }
    } else if (c === 0x7b) {
      if (++depth > maxDepth) return TOO_DEEP;
      names[depth - 1] = [];
      expectName = true;
    } else if (c === 0x5b) {
      if (++depth > maxDepth) return TOO_DEEP;
      names[depth - 1] = null;
      expectName = false;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      expectName = false;
    } else if (c === 0x2c) {
      expectName = depth > 0 && names[depth - 1] !== null;
    }
  }
  return undefined;
}

/** Index of the closing quote of the JSON string opening at `open` (the text's length when unterminated). */
export function stringEnd(text: string, open: number): number {
  const n = text.length;
  let i = open + 1;
  while (i < n) {
    const d = text.charCodeAt(i);
    if (d === 0x5c) i += 2;
    else if (d === 0x22) return i;
    else i++;
  }
  return n;
}

/** The value of the JSON string text[open..close] (quotes included), unescaped; undefined when malformed. */
export function stringAt(text: string, open: number, close: number): string | undefined {
  const raw = text.slice(open + 1, close);
  if (raw.indexOf("\\") === -1) return raw;
  try {
    return JSON.parse(text.slice(open, close + 1)) as string;
  } catch {
    return undefined;
  }
}

/** The text when it says one thing to every parser (no duplicate member names), else undefined. */
export function unambiguousText(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  return checkJsonText(text, Number.POSITIVE_INFINITY) === undefined ? text : undefined;
}
