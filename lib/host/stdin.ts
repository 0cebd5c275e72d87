/** Line input from the terminal, for the `Token:` prompts of `tela login` and `telad login`. @module */

/** Reads one line of input (without the newline); null at end of input. */
export type LineReader = () => Promise<string | null>;

/**
 * Reads standard input one line at a time (for the `Token:` prompts of login). The
 * terminal's echo is left as it is.
 * @returns a function resolving to the next line without its `\n` (and a trailing `\r`
 *   removed), or null at end of input; it rejects with the I/O error of `Deno.stdin.read`.
 */
export function stdinLineReader(): LineReader {
  const dec = new TextDecoder();
  let buf = "";
  let eof = false;
  return async () => {
    while (!buf.includes("\n") && !eof) {
      const chunk = new Uint8Array(1024);
      const n = await Deno.stdin.read(chunk);
      if (n === null) eof = true;
      else buf += dec.decode(chunk.subarray(0, n));
    }
    if (!buf && eof) return null;
    const i = buf.indexOf("\n");
    const line = i >= 0 ? buf.slice(0, i) : buf;
    buf = i >= 0 ? buf.slice(i + 1) : "";
    return line.replace(/\r$/, "");
  };
}

/** Asks one question; null at end of input (or Ctrl-C / Ctrl-D at a masked prompt). */
export type Prompt = (question: string, options?: { secret?: boolean }) => Promise<string | null>;

/**
 * The prompts of `tela login` and `telad login` (book, *TDL for the command line*,
 * Interactive prompts): on a terminal the question goes to stderr (stdout stays for data)
 * and a `secret` answer is read with echo off (the token is never shown as it is typed);
 * when stdin is not a terminal (a script pipes the token in) nothing is printed and the
 * answers are read line by line.
 * @param readLine where the answers come from when they are not typed at a terminal;
 *   given, no question is printed (tests, pipes).
 * @example
 * ```ts ignore
 * const ask = terminalPrompt();
 * const token = await ask("Token: ", { secret: true });
 * ```
 */
export function terminalPrompt(readLine?: LineReader): Prompt {
  if (readLine || !Deno.stdin.isTerminal()) {
    const read = readLine ?? stdinLineReader();
    return () => read();
  }
  const read = stdinLineReader();
  const enc = new TextEncoder();
  const say = (t: string) => Deno.stderr.writeSync(enc.encode(t));
  return async (question, options) => {
    if (!options?.secret) {
      say(question);
      return await read();
    }
    // Echo off before the question is shown, so nothing typed after it can be echoed.
    Deno.stdin.setRaw(true);
    try {
      say(question);
      return await readMasked();
    } finally {
      Deno.stdin.setRaw(false);
      say("\n");
    }
  };
}

/** One line typed with echo off: Enter ends it, Backspace erases, Ctrl-C or Ctrl-D gives null. */
async function readMasked(): Promise<string | null> {
  const dec = new TextDecoder();
  let line = "";
  const chunk = new Uint8Array(256);
  while (true) {
    const n = await Deno.stdin.read(chunk);
    if (n === null) return line || null;
    for (const ch of dec.decode(chunk.subarray(0, n), { stream: true })) {
      if (ch === "\r" || ch === "\n") return line;
      if (ch === "\x03" || ch === "\x04") return null;
      if (ch === "\x7f" || ch === "\b") line = line.slice(0, -1);
      else if (ch >= " ") line += ch;
    }
  }
}

/**
 * True when {@link terminalPrompt} will ask at a terminal: no reader was injected and
 * standard input is a terminal.
 */
export function promptIsInteractive(readLine?: LineReader): boolean {
  return !readLine && Deno.stdin.isTerminal();
}

/**
 * The message for a login that got no token: at a terminal, paste it at the prompt; without
 * one (stdin piped or closed) there is no prompt, so say how to pipe it or to use -token.
 * @param loginCommand the command as the user should run it, e.g. `tela login wss://h`.
 * @param interactive whether the token was asked at a terminal ({@link promptIsInteractive}).
 */
export function emptyTokenMessage(loginCommand: string, interactive: boolean): string {
  return interactive
    ? `token cannot be empty; paste the hub's token at the "Token:" prompt`
    : `token cannot be empty: standard input is not a terminal, so the token is read from ` +
      `it and none came; pipe it in (printf '%s\\n' "$TOKEN" | ${loginCommand}), ` +
      `or pass -token to each command instead`;
}
