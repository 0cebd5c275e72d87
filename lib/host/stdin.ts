/** Line input from the terminal, for the `Token:` prompts of `tela login` and `telad login`. @module */

/**
 * Reads standard input one line at a time (for the `Token:` prompts of login). The
 * terminal's echo is left as it is.
 * @returns a function resolving to the next line without its `\n` (and a trailing `\r`
 *   removed), or null at end of input; it rejects with the I/O error of `Deno.stdin.read`.
 */
export function stdinLineReader(): () => Promise<string | null> {
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
