/**
 * Runs the real programs for the command-line tests: `deno run cmd/<program>.ts` in a fresh
 * HOME (removed afterwards), stdin closed, Deno's cache shared with this process.
 * @module
 */
import assert from "node:assert/strict";
import { stringify as toYaml } from "yaml";
import { DENO_DIR, REPO_ROOT } from "../e2e/harness.ts";
import type { HubProcess } from "../hub/scripted_peers.ts";

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

/** The owner token of {@link ADMIN_HUB_CONFIG}. */
export const OWNER = "0123456789abcdef".repeat(4);
/** A user-role identity of {@link ADMIN_HUB_CONFIG}, with connect on every machine. */
export const ALICE = "a1".repeat(32);

/** A hub config for the `tela admin` tests: `owner` ({@link OWNER}) and `alice` ({@link ALICE}). */
export const ADMIN_HUB_CONFIG = `auth:
  tokens:
    - id: owner
      token: "${OWNER}"
      hubRole: owner
    - id: alice
      token: "${ALICE}"
  machines:
    "*":
      connectTokens: ["${ALICE}"]
`;

/**
 * Runs `tela admin <args> -hub <hub>` (loopback network only) with the {@link OWNER} token
 * unless `o.token` names another one (`null`: no `-token` flag at all).
 */
export function admin(
  hub: HubProcess,
  args: string[],
  o: RunOptions & { token?: string | null } = {},
): Promise<Ran> {
  const tokenArgs = o.token === null ? [] : ["-token", o.token ?? OWNER];
  return runProgram("tela", ["admin", ...args, "-hub", hub.url, ...tokenArgs], {
    net: "loopback",
    ...o,
  });
}

/** Asserts exit 0 (`what` and stderr in the message) and returns the run. */
export function ok(r: Ran, what: string): Ran {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r;
}

/**
 * A {@link RunOptions.setup} that gives the HOME a credential store
 * (`~/.tela/credentials.yaml`) holding `token` for `hubUrl`, under `identity` when given.
 */
export function storeWith(hubUrl: string, token: string, identity?: string) {
  return async (home: string): Promise<void> => {
    await Deno.mkdir(`${home}/.tela`, { recursive: true });
    await Deno.writeTextFile(
      `${home}/.tela/credentials.yaml`,
      toYaml({ hubs: { [hubUrl]: { token, ...(identity ? { identity } : {}) } } }),
    );
  };
}

/** One identity of `tela admin access -json`. */
export interface AccessEntry {
  id: string;
  role: string;
  machines: { machineId: string; permissions: string[] }[];
}

/** `tela admin access -json` with `token` (default {@link OWNER}) that must succeed, parsed. */
export async function accessList(hub: HubProcess, token = OWNER): Promise<AccessEntry[]> {
  return JSON.parse(ok(await admin(hub, ["access", "-json"], { token }), "access -json").stdout);
}
