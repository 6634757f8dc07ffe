// Nesting depth of a JSON text, measured before JSON.parse: a body nested 100 000 deep parses, but every
// later step that walks it (serialising, tracing, the audit record) would overflow the stack.

/** Deepest nesting the gateway accepts in a body (objects and arrays; docs/errors.md NESTING_TOO_DEEP). */
export const MAX_JSON_DEPTH = 64;

/** Whether `text` nests objects/arrays deeper than `max`. Strings are skipped (brackets inside do not count). */
export function nestsDeeperThan(text: string, max: number): boolean {
  // A text with fewer brackets than `max` cannot be that deep: most bodies are answered by this test alone.
  if (text.length <= max) return false;
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string, honouring backslash escapes.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
