/**
 * Helpers for interop tests that build network namespaces and run real programs.
 * Prerequisite checks follow the project rule: skip with a reason locally, fail in CI.
 * @module
 */

/** Result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (never throws for a non-zero exit). */
export async function run(cmd: string, args: string[], stdin?: string): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a command and throws with its stderr when it fails. */
export async function must(cmd: string, args: string[], stdin?: string): Promise<string> {
  const r = await run(cmd, args, stdin);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** True when `name` is an executable on PATH. */
export async function haveCommand(name: string): Promise<boolean> {
  try {
    return (await run("sh", ["-c", `command -v ${name}`])).code === 0;
  } catch {
    return false;
  }
}

/**
 * Checks root and the named commands. Returns null when all is there, else the reason.
 * Call {@link requirePrerequisites} to turn the reason into skip-or-fail.
 */
export async function missingPrerequisites(commands: string[]): Promise<string | null> {
  if (Deno.build.os !== "linux") return "not Linux";
  if (Deno.uid() !== 0) return "not root (network namespaces and TUN need root)";
  const missing: string[] = [];
  for (const c of commands) if (!(await haveCommand(c))) missing.push(c);
  if (missing.length > 0) return `missing programs: ${missing.join(", ")}`;
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    return "no /dev/net/tun";
  }
  return null;
}

/** True when running in CI (env CI=true), where interop tests must not skip. */
export function inCI(): boolean {
  return (Deno.env.get("CI") ?? "").toLowerCase() === "true";
}

/**
 * Decides whether an interop test runs: returns `ignore` for Deno.test. Locally a
 * missing prerequisite prints why and skips; in CI it throws, failing the run.
 */
export async function requirePrerequisites(test: string, commands: string[]): Promise<boolean> {
  const reason = await missingPrerequisites(commands);
  if (reason === null) return false;
  if (inCI()) throw new Error(`${test}: cannot run in CI: ${reason}`);
  console.log(`SKIP ${test}: ${reason}`);
  return true;
}

/** A short random suffix for namespace and link names (Linux names are <= 15 chars). */
export function uniqueSuffix(): string {
  return (Deno.pid % 1000).toString(36) +
    Math.floor(Math.random() * 36 ** 3).toString(36).padStart(3, "0");
}

/** Polls `fn` every `intervalMs` until it returns a value or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined> | T | null | undefined,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
