/**
 * A {@link ShareBackend} over local directories, for tests of the WebDAV server only (not a
 * product backend): it follows the agent's rules of spec agent-and-client.md §2.6 closely
 * enough (size > 0 writes, non-recursive delete, one-level mkdir, rename within the directory,
 * move into an existing directory, its error strings) that WebDAV clients see what they would
 * see through a tunnel, without one.
 * @module
 */
import { dirname, join, normalize } from "node:path";
import {
  type Entry,
  type ReadRange,
  type ReadResult,
  type ShareBackend,
  ShareError,
  type ShareInfo,
} from "../../lib/fileshare/backend.ts";

/** One share: its directory and flags. */
export interface DirShare extends ShareInfo {
  root: string;
}

/** Machines → shares, each a local directory. */
export class DirBackend implements ShareBackend {
  readonly machinesMap: Record<string, DirShare[]>;
  /** Operations performed, e.g. `write m/s/a.txt 12` (for assertions). */
  readonly ops: string[] = [];

  constructor(machines: Record<string, DirShare[]>) {
    this.machinesMap = machines;
  }

  #share(machine: string, share: string): DirShare {
    const m = this.machinesMap[machine];
    if (!m) throw new ShareError(`no active tunnel for machine "${machine}"`, "unavailable");
    const s = m.find((x) => x.name === share);
    if (!s) throw new ShareError(`unknown share: ${share}`);
    return s;
  }

  #path(s: DirShare, path: string): string {
    if (path.includes("..")) throw new ShareError("path traversal not allowed");
    return join(s.root, normalize("/" + path));
  }

  machines(): Promise<string[]> {
    return Promise.resolve(Object.keys(this.machinesMap));
  }

  shares(machine: string): Promise<ShareInfo[]> {
    const m = this.machinesMap[machine];
    if (!m) {
      return Promise.reject(
        new ShareError(`no active tunnel for machine "${machine}"`, "unavailable"),
      );
    }
    return Promise.resolve(
      m.map(({ name, writable, allowDelete }) => ({ name, writable, allowDelete })),
    );
  }

  async list(machine: string, share: string, path: string): Promise<Entry[]> {
    const s = this.#share(machine, share);
    const dir = this.#path(s, path);
    const out: Entry[] = [];
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isSymlink) continue;
        const st = await Deno.lstat(join(dir, e.name));
        out.push({
          name: e.name,
          size: st.size,
          modTime: (st.mtime ?? new Date()).toISOString().slice(0, 19) + "Z",
          isDir: st.isDirectory,
        });
      }
    } catch {
      throw new ShareError("cannot read directory");
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async read(machine: string, share: string, path: string, range?: ReadRange): Promise<ReadResult> {
    const s = this.#share(machine, share);
    if (!path) throw new ShareError("path required");
    const p = this.#path(s, path);
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(p);
    } catch {
      throw new ShareError("file not found");
    }
    if (st.isDirectory) throw new ShareError("cannot read a directory");
    const f = await Deno.open(p, { read: true });
    const offset = range && range.offset < st.size ? range.offset : 0;
    if (offset) await f.seek(offset, Deno.SeekMode.Start);
    this.ops.push(`read ${machine}/${share}/${path}`);
    return {
      size: st.size,
      modTime: (st.mtime ?? new Date()).toISOString().slice(0, 19) + "Z",
      offset,
      body: f.readable,
    };
  }

  async write(
    machine: string,
    share: string,
    path: string,
    size: number,
    body: ReadableStream<Uint8Array>,
  ): Promise<void> {
    const s = this.#share(machine, share);
    if (!s.writable) throw new ShareError("file sharing is read-only");
    if (!path) throw new ShareError("path required");
    if (size <= 0) throw new ShareError("size required");
    const p = this.#path(s, path);
    await Deno.mkdir(dirname(p), { recursive: true, mode: 0o700 });
    const tmp = join(dirname(p), `.tela-upload-${crypto.randomUUID().slice(0, 8)}`);
    let got = 0;
    const f = await Deno.open(tmp, { write: true, create: true });
    try {
      for await (const chunk of body) {
        got += chunk.length;
        if (got > size) throw new ShareError("received more data than declared size");
        let off = 0;
        while (off < chunk.length) off += await f.write(chunk.subarray(off));
      }
      if (got !== size) throw new ShareError(`size mismatch: expected ${size}, got ${got}`);
      f.close();
      try {
        await Deno.rename(tmp, p);
      } catch {
        throw new ShareError("failed to finalize file");
      }
      this.ops.push(`write ${machine}/${share}/${path} ${size}`);
    } catch (e) {
      try {
        f.close();
      } catch { /* closed */ }
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }

  async delete(machine: string, share: string, path: string): Promise<void> {
    const s = this.#share(machine, share);
    if (!(s.writable && s.allowDelete)) throw new ShareError("delete not allowed");
    if (!path) throw new ShareError("path required");
    const p = this.#path(s, path);
    try {
      await Deno.lstat(p);
    } catch {
      throw new ShareError("file not found");
    }
    try {
      await Deno.remove(p);
    } catch {
      throw new ShareError("delete failed");
    }
  }

  async mkdir(machine: string, share: string, path: string): Promise<void> {
    const s = this.#share(machine, share);
    if (!s.writable) throw new ShareError("file sharing is read-only");
    if (!path) throw new ShareError("path required");
    const p = this.#path(s, path);
    try {
      await Deno.mkdir(p, { mode: 0o700 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) throw new ShareError("directory already exists");
      throw new ShareError(`mkdir failed: mkdir ${p}: no such file or directory`);
    }
  }

  async rename(machine: string, share: string, path: string, newName: string): Promise<void> {
    const s = this.#share(machine, share);
    if (!s.writable) throw new ShareError("file sharing is read-only");
    if (newName.includes("/")) throw new ShareError("newName must be a filename, not a path");
    const p = this.#path(s, path);
    const q = join(dirname(p), newName);
    await this.#mv(p, q);
  }

  async move(machine: string, share: string, path: string, newPath: string): Promise<void> {
    const s = this.#share(machine, share);
    if (!s.writable) throw new ShareError("file sharing is read-only");
    const p = this.#path(s, path);
    let q = this.#path(s, newPath);
    try {
      if ((await Deno.lstat(q)).isDirectory) q = join(q, p.split("/").pop()!);
    } catch { /* absent */ }
    try {
      await Deno.lstat(dirname(q));
    } catch {
      throw new ShareError("destination directory does not exist");
    }
    await this.#mv(p, q);
  }

  async #mv(p: string, q: string): Promise<void> {
    try {
      await Deno.lstat(p);
    } catch {
      throw new ShareError("source not found");
    }
    try {
      await Deno.lstat(q);
      throw new ShareError("destination already exists");
    } catch (e) {
      if (e instanceof ShareError) throw e;
    }
    await Deno.rename(p, q);
  }
}
