/**
 * Restarting the hub process for `POST /api/admin/restart` (spec hub-http-api.md §5.8): the
 * running hub closes its listeners first, then starts its successor with the same arguments
 * and exits 0. Deno has no `exec`, so the successor is a new process (a new pid) that
 * inherits the environment, working folder, stdout and stderr, exactly as Go's hub does it.
 *
 * - Under `deno run`: `deno run -A <main module> <args>`.
 * - A compiled binary (`deno compile`): the binary itself with `<args>`.
 * - In Docker (`/.dockerenv` exists): no successor; the process exits 0 and the container's
 *   restart policy starts it again (Go does the same).
 * - `TELAHUBD_RESTART=exec` or `=exit` forces one of the two (our addition: a container
 *   without a restart policy, or tests run inside a container).
 *
 * @module
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { logger } from "../log/mod.ts";

const log = logger("hub");

/** The command line that starts this program again. */
export function selfCommand(): { cmd: string; args: string[] } {
  const exe = Deno.execPath();
  const name = basename(exe).toLowerCase().replace(/\.exe$/, "");
  if (name === "deno" && Deno.mainModule.startsWith("file:")) {
    return { cmd: exe, args: ["run", "-A", fileURLToPath(Deno.mainModule), ...Deno.args] };
  }
  return { cmd: exe, args: [...Deno.args] };
}

/** True inside a Docker container (Go's test: `/.dockerenv` exists). */
export function inDocker(): boolean {
  try {
    return existsSync("/.dockerenv");
  } catch {
    return false;
  }
}

/**
 * How this process restarts: `exec` (start a successor) or `exit` (leave it to Docker).
 * @param env environment lookup (`TELAHUBD_RESTART`).
 */
export function restartMode(env: (name: string) => string | undefined): "exec" | "exit" {
  const v = env("TELAHUBD_RESTART")?.trim().toLowerCase();
  if (v === "exec" || v === "exit") return v;
  return inDocker() ? "exit" : "exec";
}

/**
 * Starts this program again as a detached child (call after the listeners are closed).
 * @param env environment lookup (`TELAHUBD_RESTART`), default `Deno.env.get`.
 * @returns the successor's pid, or `undefined` when the mode is `exit` (Docker).
 * @throws when the successor cannot be spawned (the caller then stays down: exit 1).
 */
export function spawnSuccessor(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): number | undefined {
  if (restartMode(env) === "exit") {
    log.info("restart: exiting for the container's restart policy (Docker)");
    return undefined;
  }
  const { cmd, args } = selfCommand();
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
