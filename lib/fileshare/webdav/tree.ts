/**
 * The WebDAV tree over a {@link ShareBackend} (spec agent-and-client.md §4.2-§4.3):
 * `/` lists machines, `/<machine>/` their shares, `/<machine>/<share>/<path>` the share's files.
 * Resources below a share are found through their parent's listing (the protocol has no stat),
 * cached for a short time and dropped on every mutation made through this tree. Empty files,
 * which the protocol cannot store (spec §2.6 `write`: `size required`), are kept in memory
 * (quirk Q-WD-2 softened: they exist for the clients of this server until written or removed).
 * @module
 */
import { type Entry, type ShareBackend, ShareError } from "../backend.ts";

/** A resource of the tree. */
export interface Resource {
  /** Decoded path segments from the root (`[]` is the root). */
  segs: string[];
  /** A collection: the root, a machine, a share or a directory. */
  isDir: boolean;
  /** Bytes (0 for collections). */
  size: number;
  /** Last modification (now for the root, machines and shares). */
  modTime: Date;
}

/** Where a path of depth >= 2 lives: the machine's real name, the share, the share path. */
export interface Location {
  machine: string;
  share: string;
  /** Path inside the share, `/`-joined, `""` for the share root. */
  path: string;
}

interface Cached<T> {
  at: number;
  value: T;
}

// deno-lint-ignore no-control-regex
const INVALID_COMPONENT = /[/\\:*?"<>|\u0000-\u001f]/g;

/**
 * A machine name as a directory name (spec §4.2): kept when it is a valid path component;
 * otherwise `/ \ : * ? " < > |` and control characters become `_`, trailing dots and spaces go,
 * and an empty result is `_`.
 */
export function sanitizeMachineName(name: string): string {
  // deno-lint-ignore no-control-regex
  if (name && !/[/\\:*?"<>|\u0000-\u001f]/.test(name) && !/[. ]$/.test(name)) return name;
  const s = name.replace(INVALID_COMPONENT, "_").replace(/[. ]+$/, "");
  return s || "_";
}

/** Whether `name` has XML-invalid control characters (such entries are not listed, §4.2). */
function xmlInvalid(name: string): boolean {
  // deno-lint-ignore no-control-regex
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(name);
}

/** Options of a {@link DavTree}. */
export interface DavTreeOptions {
  /** How long a directory listing is reused, ms (spec §4.3: 30 s). */
  listTtlMs?: number;
  /** How long the machine and share lists are reused, ms (default 5 s). */
  topTtlMs?: number;
  /** A name missing from a listing older than this is looked up again, ms (default 2 s). */
  missRefreshMs?: number;
  /** The clock (ms). */
  now?: () => number;
}

/** The tree one WebDAV server shows. */
export class DavTree {
  readonly backend: ShareBackend;
  #listTtl: number;
  #topTtl: number;
  #now: () => number;
  #missRefreshMs: number;
  #lists = new Map<string, Cached<Entry[]>>();
  #machines?: Cached<string[]>;
  #shares = new Map<string, Cached<string[]>>();
  #realName = new Map<string, string>();
  #gen = 0;
  /** Empty files by `machine\0share\0path`, with their creation time. */
  #empty = new Map<string, Date>();

  /** @param backend the file shares. */
  constructor(backend: ShareBackend, opts: DavTreeOptions = {}) {
    this.backend = backend;
    this.#listTtl = opts.listTtlMs ?? 30_000;
    this.#topTtl = opts.topTtlMs ?? 5_000;
    this.#now = opts.now ?? Date.now;
    this.#missRefreshMs = opts.missRefreshMs ?? 2_000;
  }

  /** The backend location of a path of depth >= 2; undefined above. */
  location(segs: string[]): Location | undefined {
    if (segs.length < 2) return undefined;
    return {
      machine: this.#realName.get(segs[0]) ?? segs[0],
      share: segs[1],
      path: segs.slice(2).join("/"),
    };
  }

  /** Machine directory names, as listed at the root. Backend failures list nothing (§4.2). */
  async machines(): Promise<string[]> {
    const c = this.#machines;
    if (c && this.#now() - c.at < this.#topTtl) return c.value;
    let names: string[];
    try {
      names = await this.backend.machines();
    } catch (e) {
      if (e instanceof ShareError) names = [];
      else throw e;
    }
    const shown = names.map((n) => {
      const s = sanitizeMachineName(n);
      this.#realName.set(s, n);
      return s;
    });
    this.#machines = { at: this.#now(), value: shown };
    return shown;
  }

  async #shareNames(machineDir: string): Promise<string[]> {
    const c = this.#shares.get(machineDir);
    if (c && this.#now() - c.at < this.#topTtl) return c.value;
    const real = this.#realName.get(machineDir) ?? machineDir;
    const names = (await this.backend.shares(real)).map((s) => s.name);
    this.#shares.set(machineDir, { at: this.#now(), value: names });
    return names;
  }

  #key(l: Location): string {
    return `${l.machine}\u0000${l.share}\u0000${l.path}`;
  }

  /** The entries of a share directory (cached), empty files of this server merged in. */
  async #list(l: Location): Promise<Entry[]> {
    const key = this.#key(l);
    const c = this.#lists.get(key);
    let entries: Entry[];
    if (c && this.#now() - c.at < this.#listTtl) entries = c.value;
    else {
      const gen = this.#gen;
      entries = await this.backend.list(l.machine, l.share, l.path);
      if (gen === this.#gen) this.#lists.set(key, { at: this.#now(), value: entries });
    }
    const prefix = key === `${l.machine}\u0000${l.share}\u0000` ? key : `${key}/`;
    const extra: Entry[] = [];
    for (const [k, t] of this.#empty) {
      if (!k.startsWith(prefix)) continue;
      const name = k.slice(prefix.length);
      if (name.includes("/")) continue;
      const real = entries.find((e) => e.name === name);
      if (real && (real.isDir || real.size > 0)) this.#empty.delete(k);
      else if (!real) {
        extra.push({ name, size: 0, modTime: t.toISOString().slice(0, 19) + "Z", isDir: false });
      }
    }
    return extra.length ? [...entries, ...extra].sort(byName) : entries;
  }

  /**
   * The resource at `segs`, or null when there is none.
   * @throws ShareError when the backend fails for another reason than absence.
   */
  async stat(segs: string[]): Promise<Resource | null> {
    const now = new Date(this.#now());
    if (segs.length === 0) return { segs, isDir: true, size: 0, modTime: now };
    if (segs.length === 1) {
      return (await this.machines()).includes(segs[0])
        ? { segs, isDir: true, size: 0, modTime: now }
        : null;
    }
    if (segs.length === 2) {
      try {
        return (await this.#shareNames(segs[0])).includes(segs[1])
          ? { segs, isDir: true, size: 0, modTime: now }
          : null;
      } catch (e) {
        if (e instanceof ShareError && e.code !== "unavailable") return null;
        throw e;
      }
    }
    const parent = this.location(segs.slice(0, -1))!;
    let entries: Entry[];
    try {
      entries = await this.#list(parent);
    } catch (e) {
      if (e instanceof ShareError && e.code === "not-found") return null;
      throw e;
    }
    const name = segs[segs.length - 1];
    let e = entries.find((x) => x.name === name);
    if (!e && this.#ageOf(parent) > this.#missRefreshMs) {
      // Not in a listing that is a few seconds old: it may have been made by another client
      // since (tela files, another mount): ask again once rather than wait for the TTL.
      this.#lists.delete(this.#key(parent));
      try {
        e = (await this.#list(parent)).find((x) => x.name === name);
      } catch (err) {
        if (err instanceof ShareError && err.code === "not-found") return null;
        throw err;
      }
    }
    return e ? toResource(segs, e, now) : null;
  }

  /** How old the cached listing of `l` is, ms (0 when none is cached). */
  #ageOf(l: Location): number {
    const c = this.#lists.get(this.#key(l));
    return c ? this.#now() - c.at : 0;
  }

  /**
   * The members of the collection `segs` (which must exist).
   * @throws ShareError from the backend.
   */
  async children(segs: string[]): Promise<Resource[]> {
    const now = new Date(this.#now());
    if (segs.length === 0) {
      return (await this.machines()).map((m) => ({
        segs: [m],
        isDir: true,
        size: 0,
        modTime: now,
      }));
    }
    if (segs.length === 1) {
      return (await this.#shareNames(segs[0])).map((s) => ({
        segs: [segs[0], s],
        isDir: true,
        size: 0,
        modTime: now,
      }));
    }
    const entries = await this.#list(this.location(segs)!);
    return entries.filter((e) => !xmlInvalid(e.name)).map((e) =>
      toResource([...segs, e.name], e, now)
    );
  }

  /** Forgets cached listings of `segs`, everything below it and its parent. */
  invalidate(segs: string[]): void {
    this.#gen++;
    if (segs.length < 2) {
      this.#lists.clear();
      return;
    }
    const l = this.location(segs)!;
    const key = this.#key(l);
    const parent = segs.length > 2 ? this.#key(this.location(segs.slice(0, -1))!) : undefined;
    for (const k of [...this.#lists.keys()]) {
      if (k === key || k.startsWith(key + "/") || k === parent) this.#lists.delete(k);
    }
    if (l.path === "") {
      const root = key;
      for (const k of [...this.#lists.keys()]) if (k.startsWith(root)) this.#lists.delete(k);
    }
  }

  /** Whether `segs` is an empty file kept by this server. */
  isEmptyFile(segs: string[]): boolean {
    const l = this.location(segs);
    return !!l && this.#empty.has(this.#key(l));
  }

  /** Records an empty file at `segs` (depth >= 3). */
  addEmptyFile(segs: string[]): void {
    this.#empty.set(this.#key(this.location(segs)!), new Date(this.#now()));
  }

  /** Forgets empty files at `segs` and below; true when one was at `segs` itself. */
  dropEmptyFiles(segs: string[]): boolean {
    const l = this.location(segs);
    if (!l) return false;
    const key = this.#key(l);
    const had = this.#empty.delete(key);
    for (const k of [...this.#empty.keys()]) if (k.startsWith(key + "/")) this.#empty.delete(k);
    return had;
  }

  /** Moves the empty files at and below `from` to `to`. */
  moveEmptyFiles(from: string[], to: string[]): void {
    const a = this.#key(this.location(from)!);
    const b = this.#key(this.location(to)!);
    for (const [k, t] of [...this.#empty]) {
      if (k === a || k.startsWith(a + "/")) {
        this.#empty.delete(k);
        this.#empty.set(b + k.slice(a.length), t);
      }
    }
  }
}

function byName(a: Entry, b: Entry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function toResource(segs: string[], e: Entry, now: Date): Resource {
  const t = new Date(e.modTime);
  return {
    segs,
    isDir: e.isDir,
    size: e.isDir ? 0 : e.size,
    modTime: isNaN(t.getTime()) ? now : t,
  };
}
