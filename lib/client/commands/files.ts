/**
 * `tela files ls|get|put|rm|mkdir|rename|mv|info` (book, *File sharing* and Appendix A; spec
 * agent-and-client.md §3.3-3.4): file operations on the shares of a machine that a running
 * `tela connect` has a tunnel to, through its local control API (§13.4). `put` goes through
 * the control API too (Q-CL-2 fixed).
 *
 * Downloads are written to a temporary name beside the destination and renamed into place
 * only when the size and the agent's SHA-256 match, so an interrupted or corrupt download
 * never replaces a whole file (the agent does the same for uploads). A progress bar (bytes,
 * rate, ETA) goes to stderr for `get` and `put` when stderr is a terminal.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { type Command, command, UsageError } from "../../cli/mod.ts";
import { escapeForLog, setLogLevel } from "../../log/mod.ts";
import { ControlClient } from "../../fileshare/control_client.ts";
import { type Entry, ShareError } from "../../fileshare/backend.ts";
import { formatSize, type ShareRequest, type ShareResponse } from "../../fileshare/protocol.ts";
import { env, JSON_FLAG, MACHINE_FLAG, VERBOSE_FLAG } from "./shared.ts";

const SHARE_FLAG = {
  type: "string",
  arg: "name",
  usage: "Share name (env TELA_SHARE)",
} as const;

const COMMON = { machine: MACHINE_FLAG, share: SHARE_FLAG, v: VERBOSE_FLAG } as const;
const SEE = ["tela files", "tela connect", "tela mount"];

/** `-machine`, else `TELA_MACHINE`. @throws {UsageError} when neither is set. */
function machineOf(values: { machine?: string }): string {
  const m = values.machine ?? env("TELA_MACHINE");
  if (!m) throw new UsageError("-machine is required (or set TELA_MACHINE)");
  return m;
}

/** `-share`, else `TELA_SHARE`. @throws {UsageError} when neither is set. */
function shareOf(values: { share?: string }): string {
  const s = values.share ?? env("TELA_SHARE");
  if (!s) {
    throw new UsageError(
      "-share is required (or set TELA_SHARE); 'tela files info -machine <m>' lists the shares",
    );
  }
  return s;
}

/**
 * Text from the agent made safe for the terminal: C0/C1 controls, DEL and the bidirectional
 * controls escaped (lib/log escapeForLog, no length cap). Everything `tela files` prints that
 * came from the agent goes through it (names, times, errors).
 */
export function display(s: string | undefined): string {
  return escapeForLog(s, Number.MAX_SAFE_INTEGER);
}

/**
 * `-json` text with the characters JSON.stringify leaves raw but a terminal acts on (DEL,
 * C1 controls, U+2028/U+2029, bidirectional controls) as `\uXXXX`: still the same JSON.
 */
export function displayJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The agent's refusal as the error the user sees (`Error: <agent error>`, exit 1). */
function refused(res: ShareResponse, what: string): Error {
  return new ShareError(res.error ?? `${what} failed`);
}

async function request(machine: string, req: ShareRequest): Promise<ShareResponse> {
  const c = await ControlClient.discover();
  const res = await c.request(machine, req);
  if (!res.ok) throw refused(res, req.op);
  return res;
}

/** `barn`, `barn/logs` or `barn/logs/old/app.log`: what an error is about. */
function where(machine: string, share?: string, path?: string): string {
  let w = machine;
  if (share) w += `/${share}`;
  const p = path?.replace(/^\/+/, "");
  if (share && p) w += `/${p}`;
  return w;
}

/**
 * Runs one action, naming its context in the errors it throws: an agent's refusal becomes
 * `barn/logs: file sharing is read-only`, and a file-share port that does not answer (the
 * machine's telad.yaml has no `shares:`, so nothing listens there) says so instead of the
 * raw dial error. Transport failures (no `tela connect`, ...) pass unchanged.
 * @throws {ShareError} as described; other errors unchanged.
 */
export async function inContext<T>(
  machine: string,
  share: string | undefined,
  path: string | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof ShareError)) throw err;
    if (err.message.startsWith(`cannot connect to file share on ${machine}:`)) {
      throw new ShareError(
        `${machine} has no file shares (add shares: to its telad.yaml; its file-share port ` +
          `did not answer: ${err.message.slice(err.message.lastIndexOf(": ") + 2)})`,
        "unavailable",
      );
    }
    if (err.code === "unavailable") throw err;
    throw new ShareError(`${where(machine, share, path)}: ${err.message}`, err.code);
  }
}

/**
 * The `ls` table (spec §3.4): Go tabwriter, padding 2; directories with a trailing `/` and
 * size `-`; MODIFIED is the agent's `modTime` verbatim.
 */
export function formatListing(entries: Entry[]): string {
  const rows = [["NAME", "SIZE", "MODIFIED"]];
  for (const e of entries) {
    const name = display(e.name);
    rows.push([
      e.isDir ? `${name}/` : name,
      e.isDir ? "-" : formatSize(e.size),
      display(e.modTime),
    ]);
  }
  const w0 = Math.max(...rows.map((r) => r[0].length)) + 2;
  const w1 = Math.max(...rows.map((r) => r[1].length)) + 2;
  return rows.map((r) => r[0].padEnd(w0) + r[1].padEnd(w1) + r[2]).join("\n");
}

/** `info` text (spec §3.4). */
export function formatShares(
  machine: string,
  shares: { name: string; writable?: boolean; allowDelete?: boolean }[],
): string {
  shares = shares.map((s) => ({ ...s, name: display(s.name) }));
  const w = Math.max(0, ...shares.map((s) => s.name.length)) + 2;
  const access = (s: { writable?: boolean; allowDelete?: boolean }) =>
    !s.writable ? "read-only" : s.allowDelete ? "read-write (delete allowed)" : "read-write";
  return [
    `Machine: ${machine}`,
    `Shares:  ${shares.length}`,
    ...shares.map((s) => `  ${s.name.padEnd(w)}${access(s)}`),
  ].join("\n");
}

/** Seconds as `4s`, `1m05s`, `2h03m`. */
function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A progress bar on stderr (bytes, rate, ETA), redrawn at most every 100 ms; nothing at all
 * when stderr is not a terminal (scripts, logs).
 */
export class Progress {
  #done = 0;
  #last = 0;
  #start = performance.now();
  readonly enabled: boolean;

  /**
   * @param label the file name shown.
   * @param total bytes expected.
   * @param enabled default: `Deno.stderr.isTerminal()`.
   */
  constructor(
    readonly label: string,
    readonly total: number,
    enabled = Deno.stderr.isTerminal(),
  ) {
    this.enabled = enabled;
  }

  /** The bar's text for `done` bytes after `seconds`. */
  static line(label: string, done: number, total: number, seconds: number): string {
    const rate = seconds > 0 ? done / seconds : 0;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 24;
    const fill = Math.round(frac * width);
    const bar = "=".repeat(Math.max(0, fill - 1)) + (fill > 0 ? (frac < 1 ? ">" : "=") : "") +
      " ".repeat(width - fill);
    return `${label} [${bar}] ${Math.floor(frac * 100)}% ${formatSize(done)}/${formatSize(total)} ${
      formatSize(rate)
    }/s ETA ${eta(rate > 0 ? (total - done) / rate : NaN)}`;
  }

  /** Counts `n` more bytes. */
  add(n: number): void {
    this.#done += n;
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.#last < 100) return;
    this.#last = now;
    this.#draw(now);
  }

  #draw(now: number): void {
    const text = Progress.line(this.label, this.#done, this.total, (now - this.#start) / 1000);
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${text}`));
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (!this.enabled) return;
    this.#draw(performance.now());
    Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  }
}

/** Aborts `controller` on Ctrl-C while `fn` runs. */
async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const on = () => controller.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", on);
  try {
    return await fn(controller.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", on);
  }
}

/**
 * The run function of an action that is one request and one line of output (rm, mkdir,
 * rename, mv): the request is built from the positionals, refusals are named by
 * {@link inContext}, and `done` is printed on success.
 */
function oneRequest(
  op: string,
  extra: (positionals: string[]) => Partial<ShareRequest>,
  done: (positionals: string[]) => string,
  // deno-lint-ignore no-explicit-any
): (inv: any) => Promise<void> {
  return async ({ values, positionals, out }) => {
    const machine = machineOf(values), share = shareOf(values);
    await inContext(
      machine,
      share,
      positionals[0],
      () => request(machine, { op, share, path: positionals[0], ...extra(positionals) }),
    );
    out(done(positionals));
  };
}

function leaf(
  name: string,
  summary: string,
  usage: string,
  args: string[],
  examples: string[],
  // deno-lint-ignore no-explicit-any
  run: (inv: any) => Promise<number | void>,
  // deno-lint-ignore no-explicit-any
  flags: Record<string, any> = COMMON,
  description = "",
): Command {
  return command({
    name,
    summary,
    usage: [usage],
    description: `${summary}${description ? ` ${description}` : ""} Needs a running ` +
      `"tela connect" with a tunnel to the machine; goes through its local control API.`,
    flags,
    args,
    examples,
    seeAlso: SEE,
    run: async (inv) => {
      if (inv.values.v) setLogLevel("debug");
      try {
        return await run(inv);
      } catch (err) {
        // Errors carry the agent's strings: escaped before the CLI prints `Error: ...`.
        if (err instanceof ShareError) err.message = display(err.message);
        throw err;
      }
    },
  });
}

/** `tela files get`: download with a temporary name, verified, renamed into place. */
async function getFile(
  machine: string,
  share: string,
  remote: string,
  local: string | undefined,
): Promise<{ path: string; size: number }> {
  let dest = local ?? basename(remote.replace(/\/+$/, ""));
  if (!dest) throw new UsageError(`cannot name the local file for "${remote}": give -o <local>`);
  try {
    if ((await Deno.stat(dest)).isDirectory) dest = join(dest, basename(remote));
  } catch { /* a new file */ }
  const replaces = await Deno.stat(dest).then((st) => st.isFile, () => false);
  const folder = dirname(dest);
  try {
    if (!(await Deno.stat(folder)).isDirectory) {
      throw new Error(`cannot write ${dest}: ${folder} is not a folder`);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(
        `cannot write ${dest}: the folder ${folder} does not exist (create it first)`,
      );
    }
    throw err;
  }
  const c = await ControlClient.discover();
  const rand = crypto.randomUUID().slice(0, 8);
  const tmp = join(dirname(dest), `.${basename(dest)}.tela-part-${rand}`);
  return await interruptible(async (signal) => {
    const d = await c.read(machine, share, remote, signal);
    const progress = new Progress(basename(remote), d.size);
    let file: Deno.FsFile | null = null;
    try {
      file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
      const reader = d.body.getReader();
      const onAbort = () => reader.cancel().catch(() => {});
      signal.addEventListener("abort", onAbort);
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          let off = 0;
          while (off < value.length) off += await file.write(value.subarray(off));
          progress.add(value.length);
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
      if (signal.aborted) throw new Error("interrupted: nothing was written to " + dest);
      file.close();
      file = null;
      progress.finish();
      await Deno.rename(tmp, dest);
      // Like Go, an existing local file is overwritten; say so, since nothing asked first.
      if (replaces) Deno.stderr.writeSync(new TextEncoder().encode(`replaced ${dest}\n`));
      return { path: dest, size: d.size };
    } catch (err) {
      if (progress.enabled) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
      if (err instanceof ShareError && /checksum mismatch/.test(err.message)) {
        throw new ShareError(`checksum mismatch (file deleted; ${dest} is unchanged)`);
      }
      throw err;
    } finally {
      try {
        file?.close();
      } catch { /* closed */ }
      await Deno.remove(tmp).catch(() => {});
    }
  });
}

/**
 * `tela files get ... -o -`: the file to stdout. The agent's SHA-256 is checked at the end
 * (a mismatch is an error, exit 1, after the bytes were written: stdout cannot be undone).
 */
async function getToStdout(machine: string, share: string, remote: string): Promise<void> {
  const c = await ControlClient.discover();
  await interruptible(async (signal) => {
    const d = await c.read(machine, share, remote, signal);
    const reader = d.body.getReader();
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      let off = 0;
      while (off < value.length) off += await Deno.stdout.write(value.subarray(off));
    }
  });
}

/** `tela files put`: checksum first, then the file streamed with progress. */
async function putFile(
  machine: string,
  share: string,
  local: string,
  remote: string,
): Promise<number> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(local);
  } catch (err) {
    throw new Error(`cannot read ${local}: ${(err as Error).message}`);
  }
  if (st.isDirectory) throw new Error("cannot upload directories");
  if (st.size === 0) {
    throw new Error(
      `cannot upload ${local}: it is empty, and the file-share protocol refuses zero-byte ` +
        `uploads (size required)`,
    );
  }
  const hash = createHash("sha256");
  {
    const f = await Deno.open(local, { read: true });
    try {
      const buf = new Uint8Array(256 * 1024);
      while (true) {
        const n = await f.read(buf);
        if (n === null) break;
        hash.update(buf.subarray(0, n));
      }
    } finally {
      f.close();
    }
  }
  const checksum = `sha256:${hash.digest("hex")}`;
  const c = await ControlClient.discover();
  const progress = new Progress(basename(remote), st.size);
  return await interruptible(async (signal) => {
    const f = await Deno.open(local, { read: true });
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const buf = new Uint8Array(256 * 1024);
        const n = await f.read(buf.subarray(0, Math.min(buf.length, st.size - sent)));
        if (n === null || sent >= st.size) {
          controller.close();
          return;
        }
        sent += n;
        progress.add(n);
        controller.enqueue(buf.subarray(0, n));
      },
    }, { highWaterMark: 0 });
    try {
      const res = await c.write(machine, share, remote, st.size, body, checksum, signal);
      if (!res.ok) throw refused(res, "write");
      progress.finish();
      return res.size ?? st.size;
    } catch (err) {
      if (progress.enabled) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
      if (signal.aborted) throw new Error(`interrupted: ${remote} was not changed on ${machine}`);
      throw err;
    } finally {
      try {
        f.close();
      } catch { /* closed */ }
    }
  });
}

/**
 * `tela files` and its sub-commands (book, Appendix A). Usage errors (missing `-machine`,
 * `-share`, arguments) exit 2; the agent's refusals (`Error: file sharing is read-only`)
 * and a missing `tela connect` exit 1.
 */
export function filesCommand(): Command {
  return command({
    name: "files",
    summary: "Work with files shared by a connected machine.",
    usage: ["tela files <action> -machine <m> -share <s> [args]"],
    description: `File operations on the shares of a machine (telad.yaml shares:). Needs a running
"tela connect" with a tunnel to the machine: tela files talks to it through its local control
API (~/.tela/run/control.json). Data goes to stdout, progress and errors to stderr.

Flags (each action takes those it needs; "tela files <action> -h" shows them):
  -machine <name>  Machine (env TELA_MACHINE)
  -share <name>    Share name (env TELA_SHARE); "tela files info" lists them
  -o <local>       get: local file or folder; - writes to stdout
  -json            ls, info: JSON output
  -v               Verbose logging`,
    examples: [
      "tela files info -machine barn",
      "tela files ls -machine barn -share files",
      "tela files get -machine barn -share files report.pdf -o /tmp/report.pdf",
    ],
    seeAlso: ["tela mount", "tela connect"],
    run: () => {
      throw new UsageError(
        "tela files needs an action: ls, get, put, rm, mkdir, rename, mv or info",
      );
    },
    commands: [
      leaf(
        "ls",
        "List files and directories.",
        "tela files ls -machine <m> -share <s> [path] [-json]",
        ["[path]"],
        [
          "tela files ls -machine barn -share files",
          "tela files ls -machine barn -share files sub/",
        ],
        async ({ values, positionals, out }) => {
          const machine = machineOf(values), share = shareOf(values);
          const path = positionals[0] ?? "";
          const res = await inContext(
            machine,
            share,
            path,
            () => request(machine, { op: "list", share, path }),
          );
          const entries = res.entries ?? [];
          if (values.json) out(displayJson(entries));
          else out(formatListing(entries));
        },
        { ...COMMON, json: JSON_FLAG },
      ),
      leaf(
        "get",
        "Download a file.",
        "tela files get -machine <m> -share <s> <remote> [-o <local>]",
        ["<remote>"],
        ["tela files get -machine barn -share files report.pdf -o /local/report.pdf"],
        async ({ values, positionals, out }) => {
          const machine = machineOf(values), share = shareOf(values);
          if (values.o === "-") {
            return void await inContext(
              machine,
              share,
              positionals[0],
              () => getToStdout(machine, share, positionals[0]),
            );
          }
          const r = await inContext(
            machine,
            share,
            positionals[0],
            () => getFile(machine, share, positionals[0], values.o),
          );
          out(`${r.path} (${formatSize(r.size)})`);
        },
        {
          ...COMMON,
          o: {
            type: "string",
            arg: "local",
            usage: "Local file or folder (default: the remote name); - writes to stdout. " +
              'An existing file is replaced ("replaced <path>" on stderr)',
          },
        },
        "The file is checked against the agent's SHA-256 and renamed into place only when " +
          "complete.",
      ),
      leaf(
        "put",
        "Upload a file.",
        "tela files put -machine <m> -share <s> <local> [remote-name]",
        ["<local>", "[remote-name]"],
        ["tela files put -machine barn -share files localfile.txt remote-name.txt"],
        async ({ values, positionals, out }) => {
          const machine = machineOf(values), share = shareOf(values);
          const remote = positionals[1] ?? basename(positionals[0]);
          const size = await inContext(
            machine,
            share,
            remote,
            () => putFile(machine, share, positionals[0], remote),
          );
          out(`Uploaded ${remote} (${formatSize(size)})`);
        },
        COMMON,
        "Needs writable: true on the share. The agent stores it under a temporary name and " +
          "renames it into place only when complete and its SHA-256 matches.",
      ),
      leaf(
        "rm",
        "Delete a file or an empty directory.",
        "tela files rm -machine <m> -share <s> <path>",
        ["<path>"],
        ["tela files rm -machine barn -share files old-log.txt"],
        oneRequest("delete", () => ({}), ([path]) => `Deleted ${path}`),
        COMMON,
        "Needs allowDelete: true on the share.",
      ),
      leaf(
        "mkdir",
        "Create a directory.",
        "tela files mkdir -machine <m> -share <s> <path>",
        ["<path>"],
        ["tela files mkdir -machine barn -share files archive/2026"],
        oneRequest("mkdir", () => ({}), ([path]) => `Created ${path}`),
        COMMON,
        "Missing parent directories are made too. Needs writable: true.",
      ),
      leaf(
        "rename",
        "Rename a file or directory (new name only, not a path).",
        "tela files rename -machine <m> -share <s> <path> <new-name>",
        ["<path>", "<new-name>"],
        ["tela files rename -machine barn -share files old-name.txt new-name.txt"],
        oneRequest(
          "rename",
          ([, newName]) => ({ newName }),
          ([path, newName]) => `Renamed ${path} -> ${newName}`,
        ),
      ),
      leaf(
        "mv",
        "Move a file or directory within the share.",
        "tela files mv -machine <m> -share <s> <src> <dst>",
        ["<src>", "<dst>"],
        ["tela files mv -machine barn -share files logs/jan.txt archive/2026/jan.txt"],
        oneRequest(
          "move",
          ([, newPath]) => ({ newPath }),
          ([src, dst]) => `Moved ${src} -> ${dst}`,
        ),
      ),
      leaf(
        "info",
        "Show the machine's shares and what each allows.",
        "tela files info -machine <m> [-json]",
        [],
        ["tela files info -machine barn", "tela files info -machine barn -json"],
        async ({ values, out }) => {
          const machine = machineOf(values);
          const res = await inContext(
            machine,
            undefined,
            undefined,
            () => request(machine, { op: "list-shares" }),
          );
          const shares = (res.shares ?? []).map((s) => ({
            name: s.name,
            writable: s.writable === true,
            allowDelete: s.allowDelete === true,
          }));
          if (values.json) out(displayJson({ machine, shares }));
          else out(formatShares(machine, shares));
        },
        { machine: MACHINE_FLAG, json: JSON_FLAG, v: VERBOSE_FLAG },
      ),
    ],
  });
}
