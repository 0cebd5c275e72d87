/**
 * Runs the real programs for the command-line tests: `deno run cmd/<program>.ts` in a fresh
 * HOME (removed afterwards), stdin closed, Deno's cache shared with this process.
 * @module
 */
import { DENO_DIR, REPO_ROOT } from "../e2e/harness.ts";

/** What a run printed, its exit status, and the HOME it ran in (gone by then). */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  home: string;
}

/** Options of {@link runProgram}. */
export interface RunOptions {
  /**
   * Network permission: `false` runs with `--deny-net` (a program that tried to listen or
   * connect fails on it), `"loopback"` allows 127.0.0.1 only; default everything (`-A`).
   */
  net?: boolean | "loopback";
  /** Environment added to `HOME`, `DENO_DIR` and `NO_COLOR`. */
  env?: Record<string, string>;
  /** Start from an empty environment (only the variables above). */
  clearEnv?: boolean;
  /** Prepares the HOME folder before the run. */
  setup?: (home: string) => Promise<void>;
}

/**
 * Runs `cmd/<program>.ts` with `args` to completion (60 s at most).
 * @param program which program.
 * @param args its command line.
 * @param o permissions, environment and set-up.
 */
export async function runProgram(
  program: "tela" | "telad" | "telahubd",
  args: string[],
  o: RunOptions = {},
): Promise<Ran> {
  const home = await Deno.makeTempDir({ prefix: `${program}-cli-` });
  try {
    await o.setup?.(home);
    const perms = o.net === undefined || o.net === true
      ? ["-A"]
      : ["--allow-read", "--allow-write", "--allow-env", "--allow-sys", "--no-prompt"].concat(
        o.net === "loopback" ? "--allow-net=127.0.0.1" : "--deny-net",
      );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...perms, `${REPO_ROOT}cmd/${program}.ts`, ...args],
      env: { HOME: home, DENO_DIR, NO_COLOR: "1", ...o.env },
      clearEnv: o.clearEnv,
      cwd: home,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), home };
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}
