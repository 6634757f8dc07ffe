// The read-only command allow-list: a command runs only if its first words are an allowed prefix
// (e.g. `show`, `ping`, `traceroute`) and it carries nothing that could start or chain a second command.

/** Output filters of IOS / NX-OS / EOS that only narrow what a show command prints (never `redirect`, `tee`, `append`). */
const PIPE_FILTERS = new Set(["include", "inc", "i", "exclude", "exc", "e", "begin", "beg", "b", "section", "sec", "s", "count", "c"]);

export type CommandCheck = { ok: true; command: string } | { ok: false; reason: string };

/**
 * Normalise `command` (trim, single spaces) and check it against `prefixes` (each one or more words,
 * matched word by word, case-insensitively). Refused: control characters (a newline would send a
 * second line to an interactive CLI), shell chaining (`;`, `&&`, backticks, `$(`), redirection (`>`),
 * and pipes other than the read-only output filters.
 */
export function checkCommand(command: string, prefixes: readonly string[], maxLength = 512): CommandCheck {
  if (command.length > maxLength) return { ok: false, reason: `command longer than ${maxLength} characters` };
  if (/[\u0000-\u001f\u007f]/.test(command)) return { ok: false, reason: "command contains control characters (newline, tab, escape …)" };
  const normalized = command.trim().replace(/ +/g, " ");
  if (normalized === "") return { ok: false, reason: "empty command" };
  if (/;|&&|\|\||`|\$\(|>|</.test(normalized)) return { ok: false, reason: "command chaining or redirection is not allowed" };
  const [head, ...pipes] = normalized.split("|").map((p) => p.trim());
  for (const p of pipes) {
    const filter = p.split(" ")[0]?.toLowerCase() ?? "";
    if (!PIPE_FILTERS.has(filter))
      return { ok: false, reason: `output filter "| ${filter}" is not allowed (only include, exclude, begin, section, count)` };
  }
  const words = (head ?? "").toLowerCase().split(" ");
  const allowed = prefixes.some((prefix) => {
    const pw = prefix.trim().toLowerCase().split(/ +/);
    return pw.length <= words.length && pw.every((w, i) => words[i] === w);
  });
  if (!allowed)
    return { ok: false, reason: `command is not allowed: it must start with one of ${prefixes.map((p) => `"${p}"`).join(", ")}` };
  return { ok: true, command: normalized };
}
