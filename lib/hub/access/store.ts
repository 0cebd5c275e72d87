/**
 * The running hub's {@link AccessStore}: one authoritative copy of `telahubd.yaml` in memory,
 * changed by the admin API and pairing through the pure operations of `ops.ts`, persisted
 * atomically (0600, one write at a time), and kept in step with other writers of the file
 * (`telahubd user ...`, hand edits; issue 10 decision 8):
 *
 * - a debounced watch of the config's folder (which also sees an atomic-rename replacement)
 *   reloads the file when its content differs from what this store last read or wrote;
 * - before each change and before each write the file is compared again, and a changed file
 *   is reloaded first; changes made here but not yet written are replayed on top of it, so
 *   neither side's change is lost;
 * - every read-modify-write of the file (re-read, replay, rename) holds the exclusive lock of
 *   `<config>.lock` that `telahubd user` also takes; the watch's reload holds it shared
 *   (`../config_lock.ts`);
 * - a file that does not parse or validate is logged (file, key, fix) and the hub keeps its
 *   current state; when the hub must write over such a file (its next change), the file is
 *   first copied to `<config>.bad-<UTC time>` (0600) and the copy's path is logged;
 * - a change is live at once; {@link FileAccessStore.persisted} tells the API whether it
 *   reached the disk (a failed write is logged and retried with the next change).
 *
 * Every change bumps the per-identity versions (spec §14.1 `ETag`/`If-Match`) of the
 * identities it touched, rebuilds the {@link HubAuth} view, records an `admin-change` audit
 * event with the actor's id (decision 4) and notifies listeners (live enforcement).
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { escapeForLog, logger } from "../../log/mod.ts";
import { HubAuth } from "../auth.ts";
import {
  configToText,
  type HubConfigFile,
  newToken,
  parseConfigText,
  type PortalEntry,
  saveConfigFile,
  type TokenEntry,
} from "../config.ts";
import { withConfigLock } from "../config_lock.ts";
import type { History } from "../history.ts";
import * as ops from "./ops.ts";
import {
  type AccessChange,
  type AccessEntry,
  AccessError,
  type AccessStore,
  type Actor,
  PersistError,
  type TokenSummary,
} from "./types.ts";

const log = logger("hub");

/** The actor of a reload of the file edited by another process. */
export const FILE_ACCESS_ACTOR: Actor = { id: "local:file", via: "file" };

/** Options of {@link FileAccessStore}. */
export interface FileAccessStoreOptions {
  /** The config file. */
  path: string;
  /** The loaded (and bootstrapped) config; the store takes it over and edits it in place. */
  config: HubConfigFile;
  /** Audit events go here (`admin-change`); none recorded without. */
  history?: History;
  /** The clock, epoch ms (tests inject one to expire tokens). */
  now?: () => number;
  /** Watch the file for outside edits (default true). */
  watch?: boolean;
  /** Quiet time after the last file event before reloading, ms (default 100). */
  debounceMs?: number;
}

/**
 * Parses an `If-Match` value (spec §14.1): `"n"`, `W/"n"` or bare `n`.
 * @returns the version, or `undefined` for absent, `*` or unparsable (no precondition).
 */
export function parseIfMatch(v: string | undefined | null): number | undefined {
  if (v === undefined || v === null) return undefined;
  const m = v.trim().match(/^(?:W\/)?"?(\d{1,15})"?$/);
  return m ? Number(m[1]) : undefined;
}

/** The access store of a running hub, backed by `telahubd.yaml`. */
export class FileAccessStore implements AccessStore {
  readonly path: string;
  readonly #cfg: HubConfigFile;
  readonly #history?: History;
  readonly #now: () => number;
  #auth: HubAuth;
  readonly #versions = new Map<string, number>();
  #prints = new Map<string, string>();
  readonly #listeners: ((c: AccessChange) => void)[] = [];
  /** Changes applied in memory and not yet written, replayed onto a reloaded file. */
  #pending: ((cfg: HubConfigFile) => void)[] = [];
  /** File content as last read or written by this store (undefined = never). */
  #lastText?: string;
  /** Content of a write in flight. */
  #writingText?: string;
  /** Content of the last bad file logged (log once per bad content). */
  #badText?: string;
  #chain: Promise<void> = Promise.resolve();
  #writeQueued = false;
  /** Changes applied in memory so far (each {@link FileAccessStore.#mutate} adds one). */
  #seq = 0;
  /** The changes the file holds: every change up to this one is written. */
  #writtenSeq = 0;
  /** Why the last write failed (cleared by a successful write). */
  #writeError?: Error;
  /** An outside edit was taken while a write was in flight (that write may have hidden it). */
  #reloadedWhileWriting = false;
  #watcher?: Deno.FsWatcher;
  #debounce?: ReturnType<typeof setTimeout>;
  readonly #debounceMs: number;
  #closed = false;

  /**
   * @param opts the file, the loaded config, history, clock and watch settings.
   * @param lastText the file content `opts.config` was read from (or last written), so an
   *   outside edit made after that is noticed; omit when the file was not read.
   */
  constructor(opts: FileAccessStoreOptions, lastText?: string) {
    this.path = opts.path;
    this.#cfg = opts.config;
    this.#history = opts.history;
    this.#now = opts.now ?? Date.now;
    this.#debounceMs = opts.debounceMs ?? 100;
    this.#lastText = lastText;
    this.#auth = new HubAuth(this.#cfg.auth, this.#now);
    for (const t of this.#cfg.auth.tokens) this.#versions.set(t.id, 1);
    this.#prints = this.#fingerprints();
    if (opts.watch !== false) this.#startWatch();
  }

  /**
   * Creates a store for `path`, reading the file's current text so later outside edits are
   * recognised.
   */
  static async open(opts: FileAccessStoreOptions): Promise<FileAccessStore> {
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(opts.path);
    } catch { /* not there yet */ }
    // The config was loaded from this text (or will be written): only treat it as ours when
    // it renders the same, else the first check reloads it.
    if (text !== undefined && text !== configToText(opts.config)) {
      try {
        const again = parseConfigText(opts.path, text);
        if (configToText(again) !== configToText(opts.config)) text = undefined;
      } catch {
        text = undefined;
      }
    }
    return new FileAccessStore(opts, text);
  }

  /** The whole config as the store holds it (live object; do not edit). */
  get config(): HubConfigFile {
    return this.#cfg;
  }

  /** The clock, epoch ms. */
  now(): number {
    return this.#now();
  }

  // ---- reads ----

  auth(): HubAuth {
    return this.#auth;
  }

  list(): AccessEntry[] {
    this.#syncCheck();
    return this.#cfg.auth.tokens.map((t) => this.#entry(t));
  }

  get(id: string): AccessEntry {
    this.#syncCheck();
    return this.#entry(ops.mustFind(this.#cfg.auth, id));
  }

  tokens(): TokenSummary[] {
    this.#syncCheck();
    return this.#cfg.auth.tokens.map(ops.tokenSummary);
  }

  portals(): Record<string, PortalEntry> {
    this.#syncCheck();
    return structuredClone(this.#cfg.portals ?? {});
  }

  /** The version of identity `id` (1 until changed). */
  version(id: string): number {
    return this.#versions.get(id) ?? 1;
  }

  #entry(t: TokenEntry): AccessEntry {
    return ops.accessEntry(this.#cfg.auth, t, this.version(t.id));
  }

  // ---- changes ----

  create(
    req: { id: string; role?: string; expiresAt?: string },
    actor: Actor,
  ): { entry: AccessEntry; token: string } {
    const value = newToken();
    const now = this.#now();
    const t = this.#mutate((cfg) => ops.createIdentity(cfg.auth, req, now, value));
    const role = t.hubRole || "user";
    this.#audit(
      actor,
      "",
      `tokens add ${t.id} role=${role}${t.expiresAt ? ` expires=${t.expiresAt}` : ""}`,
      [t.id],
    );
    return { entry: this.#entry(t), token: value };
  }

  rotate(id: string, actor: Actor, ifMatch?: string): { entry: AccessEntry; token: string } {
    this.#syncCheck();
    this.#precondition(id, ifMatch);
    const value = newToken();
    const now = this.#now();
    const t = this.#mutate((cfg) => ops.rotateIdentity(cfg.auth, id, now, value));
    this.#audit(actor, "", `tokens rotate ${id}`, [id]);
    return { entry: this.#entry(t), token: value };
  }

  revoke(
    id: string,
    actor: Actor,
    ifMatch?: string,
  ): { status: "revoked" | "already-revoked"; entry: AccessEntry } {
    this.#syncCheck();
    const t0 = ops.mustFind(this.#cfg.auth, id);
    if (t0.revokedAt) return { status: "already-revoked", entry: this.#entry(t0) };
    // Last-owner refusal before the precondition, as for delete (spec §14.2).
    if (ops.isLastOwner(this.#cfg.auth, t0, this.#now())) {
      throw new AccessError(409, { error: ops.LAST_OWNER_REVOKE });
    }
    this.#precondition(id, ifMatch);
    const now = this.#now();
    this.#mutate((cfg) => ops.revokeIdentity(cfg.auth, id, now));
    this.#audit(actor, "", `tokens revoke ${id}`, [id]);
    return { status: "revoked", entry: this.get(id) };
  }

  remove(id: string, actor: Actor, ifMatch?: string): void {
    this.#syncCheck();
    const t = ops.mustFind(this.#cfg.auth, id);
    if (ops.isLastOwner(this.#cfg.auth, t, this.#now())) {
      throw new AccessError(409, { error: ops.LAST_OWNER_DELETE });
    }
    this.#precondition(id, ifMatch);
    const now = this.#now();
    this.#mutate((cfg) => ops.removeIdentity(cfg.auth, id, now));
    this.#versions.delete(id);
    this.#audit(actor, "", `tokens remove ${id}`, [id]);
  }

  update(
    id: string,
    change: { id?: string; role?: string },
    actor: Actor,
    ifMatch?: string,
  ): AccessEntry {
    this.#syncCheck();
    // Validation and 404 first (cheap, no change), then the precondition.
    ops.updateIdentity(structuredClone(this.#cfg.auth), id, change, this.#now());
    this.#precondition(id, ifMatch);
    const now = this.#now();
    const before = this.version(id);
    const t = this.#mutate((cfg) => ops.updateIdentity(cfg.auth, id, change, now), () => {
      if (change.id !== undefined && change.id !== id) {
        this.#versions.delete(id);
        this.#versions.set(change.id, before);
      }
    });
    const what = [
      change.id !== undefined && change.id !== id ? `access rename ${id} ${change.id}` : "",
      change.role !== undefined ? `access role ${t.id} ${change.role || "user"}` : "",
    ].filter((x) => x).join("; ");
    this.#audit(actor, "", what || `access update ${id}`, [id, t.id]);
    return this.#entry(t);
  }

  setMachine(
    id: string,
    machineId: string,
    permissions: string[],
    services: string[] | undefined,
    actor: Actor,
    ifMatch?: string,
  ): AccessEntry {
    this.#syncCheck();
    ops.setMachine(structuredClone(this.#cfg.auth), id, machineId, permissions, services);
    this.#precondition(id, ifMatch);
    const t = this.#mutate((cfg) => ops.setMachine(cfg.auth, id, machineId, permissions, services));
    const perms = [...new Set(permissions)].join(",") || "none";
    const svc = services?.length ? ` services=${services.join(",")}` : "";
    this.#audit(
      actor,
      machineId,
      `access grant ${id} ${machineId} ${perms}${svc}`,
      this.#sharing(t),
    );
    return this.#entry(t);
  }

  revokeMachine(id: string, machineId: string, actor: Actor, ifMatch?: string): AccessEntry {
    this.#syncCheck();
    ops.revokeMachine(structuredClone(this.#cfg.auth), id, machineId);
    this.#precondition(id, ifMatch);
    const t = this.#mutate((cfg) => ops.revokeMachine(cfg.auth, id, machineId));
    this.#audit(actor, machineId, `access revoke ${id} ${machineId}`, this.#sharing(t));
    return this.#entry(t);
  }

  /**
   * The first registration of a machine whose own ACL entry names no registrant makes the
   * registering identity its registrant ({@link ops.claimRegistrant}); persisted and audited
   * (`register claim <machine> by <id>`). A no-op when the machine has a registrant by now.
   * @param machineId the machine name it registered.
   * @param id the identity that registered it.
   */
  claimRegistrant(machineId: string, id: string): void {
    this.#syncCheck();
    if (!ops.claimRegistrant(structuredClone(this.#cfg.auth), id, machineId)) return;
    this.#mutate((cfg) => ops.claimRegistrant(cfg.auth, id, machineId));
    this.#audit(
      { id, via: "register" },
      machineId,
      `register claim ${machineId} by ${id} (first registration)`,
      [id],
    );
  }

  addPaired(
    req: { type: "connect" | "register"; machineId: string; role: string; machines: string[] },
    actor: Actor,
  ): { id: string; token: string } {
    this.#syncCheck();
    const value = newToken();
    const now = this.#now();
    let id = "";
    const t = this.#mutate((cfg) => {
      // Replays keep the id chosen the first time when it is still free.
      const e = ops.addPaired(cfg.auth, req, now, value);
      if (id && e.id !== id && ops.findIndex(cfg.auth, id) < 0) e.id = id;
      return e;
    });
    id = t.id;
    const register = req.type === "register";
    // The new identity did this; the code's creator is named in the detail (fix round: the
    // event used to be credited to the creator, as if they had paired).
    this.#audit(
      actor,
      register ? req.machineId : "",
      `pair redeem ${t.id} (code by ${actor.id})`,
      [t.id],
      t.id,
    );
    return { id: t.id, token: value };
  }

  setPortal(name: string, entry: PortalEntry, actor: Actor): "created" | "updated" {
    this.#syncCheck();
    const existed = !!this.#cfg.portals?.[name];
    const copy = structuredClone(entry);
    this.#mutate((cfg) => {
      (cfg.portals ??= {})[name] = structuredClone(copy);
    });
    this.#audit(actor, "", `portals ${existed ? "update" : "add"} ${name}`, []);
    return existed ? "updated" : "created";
  }

  removePortal(name: string, actor: Actor): void {
    this.#syncCheck();
    if (!this.#cfg.portals?.[name]) throw new AccessError(404, { error: "portal not found" });
    this.#mutate((cfg) => {
      if (cfg.portals) delete cfg.portals[name];
    });
    this.#audit(actor, "", `portals remove ${name}`, []);
  }

  onChange(fn: (change: AccessChange) => void): void {
    this.#listeners.push(fn);
  }

  changeMark(): number {
    return this.#seq;
  }

  /**
   * Waits for the write of the changes made so far (after `mark`, when given).
   * @param mark from {@link FileAccessStore.changeMark}, taken before the change.
   * @throws {PersistError} when they could not be written (still live in memory; written
   *   again with the next change).
   */
  async persisted(mark?: number): Promise<void> {
    const target = this.#seq;
    if (mark !== undefined && target === mark) return;
    if (this.#writtenSeq >= target) return;
    await this.flush();
    if (this.#writtenSeq >= target) return;
    throw new PersistError(this.path, this.#writeError?.message ?? "not written");
  }

  /** Resolves once every change made so far is on disk (or its write failed and was logged). */
  async flush(): Promise<void> {
    let seen: Promise<void> | undefined;
    while (seen !== this.#chain) {
      seen = this.#chain;
      await seen;
    }
  }

  /** Stops watching the file and waits for pending writes. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#debounce !== undefined) clearTimeout(this.#debounce);
    try {
      this.#watcher?.close();
    } catch { /* closed */ }
    await this.flush();
  }

  // ---- machinery ----

  /** Ids of identities holding the same token value as `t` (their grants changed too). */
  #sharing(t: TokenEntry): string[] {
    return this.#cfg.auth.tokens.filter((o) => o.token === t.token).map((o) => o.id);
  }

  /** 412 when `ifMatch` names another version than the identity's current one. */
  #precondition(id: string, ifMatch: string | undefined): void {
    const want = parseIfMatch(ifMatch);
    if (want === undefined) return;
    const t = ops.mustFind(this.#cfg.auth, id);
    const current = this.version(id);
    if (want !== current) {
      throw new AccessError(412, {
        error: "access entry has been modified since last read",
        id,
        version: current,
        current: this.#entry(t),
      });
    }
  }

  /**
   * Applies `fn` to the config (it throws before changing anything when refused), remembers
   * it for replay, bumps versions, rebuilds the view, notifies, and schedules a write.
   */
  #mutate<T>(fn: (cfg: HubConfigFile) => T, afterApply?: () => void): T {
    this.#syncCheck();
    const result = fn(this.#cfg);
    this.#seq++;
    this.#pending.push((cfg) => void fn(cfg));
    afterApply?.();
    this.#changed();
    this.#scheduleWrite();
    return result;
  }

  /**
   * Records, logs and notifies a change.
   * @param identity who the audit event names (default the actor).
   */
  #audit(
    actor: Actor,
    machineId: string,
    summary: string,
    identities: string[],
    identity = actor.id,
  ): void {
    this.#history?.record(machineId, "admin-change", summary, { identity });
    log.info(`access: ${escapeForLog(summary)} (by ${escapeForLog(actor.id)} via ${actor.via})`);
    const change: AccessChange = { identities: [...new Set(identities)], actor, summary };
    for (const fn of this.#listeners) {
      try {
        fn(change);
      } catch (err) {
        log.error(`access change listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** Per-identity fingerprints (entry + token), to bump the versions of those that changed. */
  #fingerprints(): Map<string, string> {
    const m = new Map<string, string>();
    for (const t of this.#cfg.auth.tokens) {
      if (m.has(t.id)) continue; // the first entry with an id is the one the API shows
      m.set(t.id, JSON.stringify([t.token, ops.accessEntry(this.#cfg.auth, t, 0)]));
    }
    return m;
  }

  /** Rebuilds the view and bumps versions. @returns the ids whose entry changed. */
  #changed(): string[] {
    const now = this.#fingerprints();
    const changed: string[] = [];
    for (const [id, print] of now) {
      if (this.#prints.get(id) !== print) {
        changed.push(id);
        this.#versions.set(id, (this.#versions.get(id) ?? 0) + 1);
      }
    }
    for (const id of this.#prints.keys()) if (!now.has(id)) changed.push(id);
    for (const id of [...this.#versions.keys()]) if (!now.has(id)) this.#versions.delete(id);
    this.#prints = now;
    this.#auth = new HubAuth(this.#cfg.auth, this.#now);
    return changed;
  }

  #scheduleWrite(): void {
    if (this.#writeQueued) return;
    this.#writeQueued = true;
    this.#chain = this.#chain.then(() => this.#write()).catch((err) =>
      log.error(`access: writing ${this.path} failed: ${(err as Error).stack ?? err}`)
    );
  }

  /**
   * Writes the config under the exclusive lock: re-reads the file first (an outside change is
   * merged, a bad file is backed up), then renames the new text over it. A failure is logged
   * and kept for {@link FileAccessStore.persisted}; the changes stay pending and go out with
   * the next write.
   */
  async #write(): Promise<void> {
    this.#writeQueued = false;
    try {
      await withConfigLock(this.path, true, async () => {
        const onDisk = await this.#checkFile();
        if (onDisk !== undefined && onDisk === this.#badText) await this.#backUpBad(onDisk);
        const n = this.#pending.length;
        const seq = this.#seq;
        const text = configToText(this.#cfg);
        this.#writingText = text;
        try {
          await saveConfigFile(this.path, this.#cfg);
        } finally {
          this.#writingText = undefined;
        }
        this.#lastText = text;
        this.#pending.splice(0, n);
        this.#writtenSeq = seq;
        this.#writeError = undefined;
      });
    } catch (err) {
      this.#writeError = err as Error;
      log.warn(
        `could not persist config to ${this.path}: ${(err as Error).message} (the change is ` +
          "live in memory; the hub writes it again with its next change)",
      );
    }
    if (this.#reloadedWhileWriting) {
      // The rename may have replaced the edit on disk: write the merged state again.
      this.#reloadedWhileWriting = false;
      this.#scheduleWrite();
    }
  }

  /**
   * Copies a file that does not parse to `<config>.bad-<UTC time>` (0600) before the hub
   * writes over it, and logs the copy's path with the error, so a half-finished hand edit is
   * not lost.
   */
  async #backUpBad(text: string): Promise<void> {
    let why = "";
    try {
      parseConfigText(this.path, text);
    } catch (err) {
      why = (err as Error).message;
    }
    const stamp = new Date(this.#now()).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    for (let i = 1; i <= 20; i++) {
      const copy = `${this.path}.bad-${stamp}${i > 1 ? `-${i}` : ""}`;
      try {
        await Deno.writeTextFile(copy, text, { createNew: true, mode: 0o600 });
        if (Deno.build.os !== "windows") await Deno.chmod(copy, 0o600);
      } catch (err) {
        if (err instanceof Deno.errors.AlreadyExists) continue;
        log.error(
          `${why}; could not keep a copy of it (${(err as Error).message}): the hub's next ` +
            "write replaces it",
        );
        return;
      }
      log.warn(
        `${why}; the hub writes its current settings over it and kept your edit in ${copy}: ` +
          `fix the copy and move it back to ${this.path}`,
      );
      return;
    }
  }

  /** True when `text` is neither what this store last read/wrote nor is writing. */
  #foreign(text: string): boolean {
    return text !== this.#lastText && text !== this.#writingText;
  }

  /** Compares the file with what this store last read or wrote (sync: before a change). */
  #syncCheck(): void {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.path);
    } catch {
      return; // missing or unreadable: the next write recreates it
    }
    if (this.#foreign(text)) this.#reload(text);
  }

  /**
   * The same check, async (the watch and the write path).
   * @returns the file's text, or `undefined` when it cannot be read.
   */
  async #checkFile(): Promise<string | undefined> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch {
      return undefined;
    }
    if (this.#foreign(text)) this.#reload(text);
    return text;
  }

  /** Takes an outside edit: parse, replay unwritten changes, rebuild, audit, notify. */
  #reload(text: string): void {
    if (text === this.#badText) return;
    let fresh: HubConfigFile;
    try {
      fresh = parseConfigText(this.path, text);
    } catch (err) {
      this.#badText = text;
      log.warn(
        `${(err as Error).message} (edit ignored: the running hub keeps its current access ` +
          "settings until the file is fixed)",
      );
      return;
    }
    this.#badText = undefined;
    this.#lastText = text;
    if (this.#writingText !== undefined) this.#reloadedWhileWriting = true;
    const kept: ((cfg: HubConfigFile) => void)[] = [];
    for (const op of this.#pending) {
      try {
        op(fresh);
        kept.push(op);
      } catch (err) {
        log.warn(
          `a change made through the hub no longer applies after an edit of ${this.path}: ${
            (err as Error).message
          }`,
        );
      }
    }
    this.#pending = kept;
    const before = JSON.stringify([this.#cfg.auth, this.#cfg.portals ?? {}]);
    const hubId = this.#cfg.hubId;
    for (const k of Object.keys(this.#cfg) as (keyof HubConfigFile)[]) delete this.#cfg[k];
    Object.assign(this.#cfg, fresh);
    this.#cfg.hubId ||= hubId; // the hub's identity does not change under it
    if (kept.length) this.#scheduleWrite();
    if (before === JSON.stringify([this.#cfg.auth, this.#cfg.portals ?? {}])) return;
    const oldPrints = this.#prints;
    const changed = this.#changed();
    const summary = describeReload(oldPrints, this.#prints, changed);
    this.#audit(FILE_ACCESS_ACTOR, "", `file ${basename(this.path)}: ${summary}`, changed);
  }

  #startWatch(): void {
    const dir = dirname(this.path);
    const base = basename(this.path);
    try {
      this.#watcher = Deno.watchFs(dir, { recursive: false });
    } catch (err) {
      log.warn(
        `cannot watch ${dir} for edits of ${base}: ${(err as Error).message}; ` +
          "outside edits apply at the hub's next change or restart",
      );
      return;
    }
    const watcher = this.#watcher;
    (async () => {
      for await (const ev of watcher) {
        if (this.#closed) break;
        if (ev.paths.some((p) => basename(p) === base)) this.#kick();
      }
    })().catch(() => {});
  }

  #kick(): void {
    if (this.#debounce !== undefined) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      if (this.#closed) return;
      this.#chain = this.#chain.then(async () => {
        await withConfigLock(this.path, false, () => this.#checkFile());
      }).catch((err) =>
        log.error(`access: reloading ${this.path} failed: ${(err as Error).stack ?? err}`)
      );
    }, this.#debounceMs);
  }
}

/** A short audit text for a reload: which identities appeared, went or changed. */
function describeReload(
  before: Map<string, string>,
  after: Map<string, string>,
  changed: string[],
): string {
  const parts: string[] = [];
  for (const id of changed) {
    if (!before.has(id)) parts.push(`tokens add ${id}`);
    else if (!after.has(id)) parts.push(`tokens remove ${id}`);
    else parts.push(`access change ${id}`);
  }
  return parts.join("; ") || "reloaded";
}
