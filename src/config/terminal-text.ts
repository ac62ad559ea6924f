// Text for terminals: what the CLI prints of task data, and the one-line errors every rig program
// prints, so neither can forge a line or drive the terminal.
// Task data is written by anyone who can reach the server, and printed to terminals and shell
// pipelines. Every human-readable line escapes, visibly and unambiguously, what could end a line,
// move the cursor, drive the terminal or reorder what is shown: C0 controls (\n, \r, \t, ESC, ...),
// DEL, C1 controls (U+0080-U+009F, which include NEL and CSI), the line and paragraph separators
// U+2028/U+2029, bidi marks, embeddings, overrides and isolates (U+061C, U+200E/U+200F,
// U+202A-U+202E, U+2066-U+2069), and the backslash itself, so `\n` on screen always means an
// escaped newline and a literal backslash shows as `\\`.
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\\]/g;
// The same set less what JSON.stringify already escapes (C0, `"` and `\`): only ever inside strings.
export const UNSAFE_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

export function escapeChar(c: string): string {
  const named = NAMED_ESCAPES[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Text for a terminal: never more than one line, never a control sequence (see UNSAFE_TEXT). */
export function safeText(text: string): string {
  return text.replace(UNSAFE_TEXT, escapeChar);
}

// Without the backslash: an error line stays readable where it quotes JSON (`\"`), and is still one line.
const UNSAFE_IN_ERRORS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** An error message for stderr: controls escaped as in safeText, backslashes left as they are. */
export function safeErrorLine(text: string): string {
  return text.replace(UNSAFE_IN_ERRORS, escapeChar);
}
