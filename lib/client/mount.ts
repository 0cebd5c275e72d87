/**
 * `tela mount` (spec agent-and-client.md §4.1, §4.5; book, *Mounting as a local drive*): the
 * WebDAV server on 127.0.0.1 over the control API of a running `tela connect`, and the OS
 * mount of it: davfs2 (`mount -t davfs`) on Linux, `mount_webdav` on macOS, `net use` on
 * Windows. Used by the `tela mount` command and by profile `mount.auto` in `tela connect`.
 * @module
 */
import { dirname, join, resolve } from "node:path";
import type { Logger } from "../log/mod.ts";
import { ControlApiBackend } from "../fileshare/control_backend.ts";
import { controlFilePath, readControlFile } from "../fileshare/control_client.ts";
import type { ShareBackend } from "../fileshare/backend.ts";
import { serveWebDav, type WebDavOptions } from "../fileshare/webdav/server.ts";

/** `-port` default (spec §4.1, book Appendix A). */
export const DEFAULT_MOUNT_PORT = 18080;

/**
 * The WebDAV port: an explicit `-port`, else `TELA_MOUNT_PORT` when set and an integer,
 * else 18080. The project rule is flag > env; Go's `tela mount` lets `TELA_MOUNT_PORT`
 * override even an explicit `-port` (spec §4.1), a quirk we do not copy.
 * @param flag `-port` when given on the command line, else undefined.
 */
export function mountPort(flag: number | undefined, envValue = Deno.env.get("TELA_MOUNT_PORT")) {
  if (flag !== undefined) return flag;
  if (envValue !== undefined && /^\s*-?\d+\s*$/.test(envValue)) return Number(envValue);
  return DEFAULT_MOUNT_PORT;
}

/** A mount point that cannot be used (spec §4.5 texts). */
export class MountPointError extends Error {
  override name = "MountPointError";
}

/**
 * Checks a mount point before mounting (spec §4.5). Unix: the parent must be an existing
 * directory; the target, if it exists, an empty directory. Windows: a drive letter (`T` or
 * `T:`), returned as `T:`.
 * @returns the absolute directory (or `X:` on Windows).
 * @throws MountPointError naming the path and what is wrong with it.
 */
export async function validateMountPoint(p: string, os = Deno.build.os): Promise<string> {
  if (os === "windows") {
    const m = /^([A-Za-z]):?$/.exec(p.trim());
    if (!m) {
      throw new MountPointError(
        "on Windows, mount point must be a drive letter (e.g., T: or T), not a directory path",
      );
    }
    return `${m[1].toUpperCase()}:`;
  }
  const abs = resolve(expandHome(p));
  const parent = dirname(abs);
  let ps: Deno.FileInfo;
  try {
    ps = await Deno.stat(parent);
  } catch {
    throw new MountPointError(`parent directory ${parent} does not exist`);
  }
  if (!ps.isDirectory) throw new MountPointError(`parent path ${parent} is not a directory`);
  let st: Deno.FileInfo | undefined;
  try {
    st = await Deno.stat(abs);
  } catch { /* absent: created when mounting */ }
  if (st) {
    if (!st.isDirectory) throw new MountPointError(`${abs} exists and is not a directory`);
    let n = 0;
    for await (const _ of Deno.readDir(abs)) n++;
    if (n) throw new MountPointError(`${abs} is not empty (${n} items)`);
  }
  return abs;
}

function expandHome(p: string): string {
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (home && (p === "~" || p.startsWith("~/"))) return join(home, p.slice(1));
  return p;
}

/** The manual mount commands printed when `-mount` is not given (book, Appendix A). */
export function manualMountLines(port: number, os = Deno.build.os): string[] {
  const url = `http://127.0.0.1:${port}/`;
  if (os === "windows") return [`  net use T: ${url}`];
  if (os === "darwin") return [`  mount_webdav ${url} /Volumes/tela`];
  return [`  mount -t davfs ${url} /mnt/tela`, `  gio mount dav://127.0.0.1:${port}/`];
}

async function run(cmd: string, args: string[]): Promise<{ code: number; text: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const text = (new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout))
      .trim();
    return { code: out.code, text };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { code: 127, text: `${cmd} not found` };
    throw e;
  }
}

/** An OS mount made by {@link osMount}; `unmount` undoes it (errors ignored). */
export interface OsMount {
  /** Where it is mounted (`X:` on Windows). */
  target: string;
  unmount(): Promise<void>;
}

/**
 * Mounts the WebDAV server at `url` on `target` (validated by {@link validateMountPoint}):
 * Linux `mount -t davfs` with a davfs2 configuration that never asks for credentials
 * (real-peers.md §4); macOS `mount_webdav <url> <dir>`; Windows `net use X: <url>`.
 * @throws Error `mount failed: <command output>` with what to do about it.
 */
export async function osMount(url: string, target: string, os = Deno.build.os): Promise<OsMount> {
  if (os === "windows") {
    const r = await run("net", ["use", target, url]);
    if (r.code !== 0) {
      throw new Error(
        `mount failed: net use ${target} ${url}: ${r.text} (ensure the WebClient service is ` +
          `running: sc start WebClient)`,
      );
    }
    return { target, unmount: async () => void await run("net", ["use", target, "/delete", "/y"]) };
  }
  await Deno.mkdir(target, { recursive: true, mode: 0o755 });
  if (os === "darwin") {
    const r = await run("mount_webdav", [url, target]);
    if (r.code !== 0) throw new Error(`mount failed: mount_webdav ${url} ${target}: ${r.text}`);
    return { target, unmount: async () => void await run("umount", [target]) };
  }
  const confDir = await Deno.makeTempDir({ prefix: "tela-mount-davfs-" });
  const conf = join(confDir, "davfs2.conf");
  // ask_auth 0: the server has no credentials and mount.davfs must not prompt for them.
  await Deno.writeTextFile(conf, "ask_auth 0\n");
  const uid = Deno.uid?.() ?? 0;
  const gid = Deno.gid?.() ?? 0;
  const r = await run("mount", [
    "-t",
    "davfs",
    "-o",
    `conf=${conf},uid=${uid},gid=${gid}`,
    url,
    target,
  ]);
  if (r.code !== 0) {
    await Deno.remove(confDir, { recursive: true }).catch(() => {});
    throw new Error(
      `mount failed: mount -t davfs ${url} ${target}: ${r.text || `exit ${r.code}`} (you may ` +
        `need root or davfs2 installed: apt-get install davfs2; or mount by hand: ` +
        `gio mount dav://${new URL(url).host}/)`,
    );
  }
  return {
    target,
    unmount: async () => {
      await run("umount", [target]);
      await Deno.remove(confDir, { recursive: true }).catch(() => {});
    },
  };
}

/** What {@link runMount} needs. */
export interface MountOptions {
  /** TCP port on 127.0.0.1 (0 picks a free one). */
  port: number;
  /** Mount point (`-mount`), or undefined to only serve. */
  mountPoint?: string;
  /** Resolves when the mount should stop (Ctrl-C, or the connect process shutting down). */
  stop: Promise<void>;
  /** The component logger (`mount`). */
  log: Logger;
  /** The control file (default `<cfgdir>/run/control.json`). */
  controlFile?: string;
  /** Another backend instead of the control API (tests). */
  backend?: ShareBackend;
  /** WebDAV server options (cache times). */
  webdav?: WebDavOptions;
  /** Called with the bound port once the server listens. */
  onListen?: (port: number) => void;
}

/**
 * Runs `tela mount` (spec §4.1) until `stop` resolves: checks the control file, serves WebDAV
 * on 127.0.0.1, mounts when asked, then unmounts and closes.
 * @throws Error `No running tela instance: ...` when there is no control file,
 *   `WebDAV server: ...` when the port cannot be bound, {@link MountPointError} or
 *   `mount failed: ...` for `-mount`.
 */
export async function runMount(o: MountOptions): Promise<void> {
  const log = o.log;
  let backend = o.backend;
  if (!backend) {
    const file = o.controlFile ?? controlFilePath();
    let info;
    try {
      info = await readControlFile(file);
    } catch (e) {
      const msg = (e as Error).message;
      throw new Error(
        msg.includes("no control file")
          ? `No running tela instance: no control file at ${file} (start one with ` +
            `'tela connect -hub <hub> -machine <machine>' and keep it running)`
          : `No running tela instance: ${msg}`,
      );
    }
    log.info(`connected to tela at http://127.0.0.1:${info.port}`);
    backend = new ControlApiBackend(file);
  }
  const mountAt = o.mountPoint ? await validateMountPoint(o.mountPoint) : undefined;
  const ac = new AbortController();
  let server;
  try {
    server = serveWebDav({ backend, port: o.port, signal: ac.signal, options: o.webdav });
  } catch (e) {
    throw new Error(
      `WebDAV server: cannot listen on 127.0.0.1:${o.port}: ${(e as Error).message} ` +
        `(choose another port with -port or TELA_MOUNT_PORT)`,
    );
  }
  const port = server.addr.port;
  log.info(`WebDAV server listening on 127.0.0.1:${port}`);
  o.onListen?.(port);
  const url = `http://127.0.0.1:${port}/`;
  let mounted: OsMount | undefined;
  try {
    if (mountAt) {
      mounted = await osMount(url, mountAt);
      log.info(`mounted ${url} on ${mounted.target}`);
    } else {
      log.info("No -mount specified. Map manually:");
      for (const l of manualMountLines(port)) log.info(l);
    }
    await o.stop;
    log.info("shutting down...");
  } finally {
    if (mounted) await mounted.unmount();
    ac.abort();
    await server.finished.catch(() => {});
  }
}
