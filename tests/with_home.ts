/**
 * A clean user environment for tests of code that reads `~/.tela` (credentials, hubs.yaml,
 * profiles) and the `TELA_*` variables.
 * @module
 */

/** Variables cleared for the duration of {@link withHome}: HOME is set, the rest unset. */
const VARS = ["HOME", "TELA_TOKEN", "TELA_HUB", "TELA_MACHINE", "TELA_PROFILE", "TELA_MTU"];

/**
 * Runs `fn` with `HOME` set to a new temporary folder and the `TELA_*` variables that stand
 * in for flags unset; restores them all and removes the folder afterwards, also when `fn`
 * throws. Changes this process's environment: tests using it must not run in parallel.
 * @param fn receives the temporary home folder (absolute path).
 */
export async function withHome(fn: (home: string) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir();
  const saved = VARS.map((k) => [k, Deno.env.get(k)] as const);
  Deno.env.set("HOME", home);
  for (const k of VARS.slice(1)) Deno.env.delete(k);
  try {
    await fn(home);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    await Deno.remove(home, { recursive: true });
  }
}
