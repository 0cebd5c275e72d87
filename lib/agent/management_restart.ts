/**
 * Restarting telad for the `restart` management action (spec agent-and-client.md §8.7,
 * hub-http-api.md §8.3; decisions21.md contract 2): telad stops its machines, starts itself
 * again with the same command line and exits 0; the new process registers again with the
 * same configuration. Deno has no `exec`, so the successor is a new process (a new pid) that
 * inherits the environment, working folder, stdout and stderr.
 *
 * - A compiled telad (`deno compile`): `Deno.execPath()` with `Deno.args`.
 * - From source (`deno run ...`): the same `deno` with the same flags and main module, read
 *   from `/proc/self/cmdline` where it exists (Linux); elsewhere `deno run -A <main module>
 *   <args>` (the permission flags cannot be read back).
 * - In Docker (`/.dockerenv` exists): no successor; telad exits 0 and the container's restart
 *   policy starts it again. `TELAD_RESTART=exec` or `=exit` forces one of the two.
 *
 * @module
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync, readFileSync } from "node:fs";
import type { Logger } from "../log/mod.ts";

/** Delay between the `restarting` answer and the restart, ms (spec §8.7: 500 ms). */
export const AGENT_RESTART_DELAY_MS = 500;

/**
 * The command line that starts this program again, as `{cmd, args}`.
 * @param cmdline the NUL-separated argv of this process (`/proc/self/cmdline`), or null when
 *   unknown; default: read it on Linux.
 */
export function restartCommandLine(
  cmdline: string | null = readCmdline(),
): { cmd: string; args: string[] } {
  const exe = Deno.execPath();
  const name = basename(exe).toLowerCase().replace(/\.exe$/, "");
  if (name !== "deno") return { cmd: exe, args: [...Deno.args] };
  const argv = cmdline?.split("\0") ?? [];
  if (argv.at(-1) === "") argv.pop();
  // Trust /proc only when it ends with this process's own arguments.
  const tail = argv.slice(argv.length - Deno.args.length);
  if (
    argv.length > Deno.args.length + 1 &&
    tail.every((a, i) => a === Deno.args[i])
  ) {
    return { cmd: exe, args: argv.slice(1) };
  }
  if (!Deno.mainModule.startsWith("file:")) {
    return { cmd: exe, args: ["run", "-A", Deno.mainModule, ...Deno.args] };
  }
  return { cmd: exe, args: ["run", "-A", fileURLToPath(Deno.mainModule), ...Deno.args] };
}

function readCmdline(): string | null {
  if (Deno.build.os !== "linux") return null;
  try {
    return readFileSync("/proc/self/cmdline", "utf8");
  } catch {
    return null;
  }
}

/**
 * How telad restarts: `exec` (start a successor) or `exit` (leave it to Docker's restart
 * policy).
 * @param env environment lookup (`TELAD_RESTART`).
 */
export function agentRestartMode(env: (name: string) => string | undefined): "exec" | "exit" {
  const v = env("TELAD_RESTART")?.trim().toLowerCase();
  if (v === "exec" || v === "exit") return v;
  try {
    return existsSync("/.dockerenv") ? "exit" : "exec";
  } catch {
    return "exec";
  }
}

/**
 * Starts this program again as a detached child (call once the machines are stopped and
 * their listeners closed) and logs `restart: started pid <n>; pid <m> exits`.
 * @param log where the line goes.
 * @param env environment lookup (`TELAD_RESTART`), default `Deno.env.get`.
 * @returns the successor's pid, or `undefined` in `exit` mode (Docker).
 * @throws when the successor cannot be spawned (telad then exits 1: its supervisor, if any,
 *   restarts it).
 */
export function spawnAgentSuccessor(
  log: Logger,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): number | undefined {
  if (agentRestartMode(env) === "exit") {
    log.info("restart: exiting for the container's restart policy (Docker)");
    return undefined;
  }
  const { cmd, args } = restartCommandLine();
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  child.unref();
  log.info(`restart: started pid ${child.pid}; pid ${Deno.pid} exits`);
  return child.pid;
}
