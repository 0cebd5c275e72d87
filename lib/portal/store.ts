/**
 * The file-backed store of our single-user portal (book, Appendix D §1.1, §3, §8): the
 * portal's `portalId`, the SHA-256 of its user bearer token, and the hub records. One JSON
 * file, written atomically with mode 0600 (it holds hub admin and viewer tokens); sync tokens
 * and the user token are stored as SHA-256 hashes only.
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomic } from "../config/mod.ts";

/** One hub of the directory. */
export interface HubRecord {
  /** The hub's stable `hubId` (Appendix D §1.1); never changed by PATCH. */
  hubId: string;
  /** Short name, unique within the portal (compared case-insensitively). */
  name: string;
  /** Public URL, `https://…` or `http://…`. */
  url: string;
  /** Console viewer token (for `/api/fleet/agents`), when known. */
  viewerToken?: string;
  /** Hub owner/admin token for the admin proxy (never echoed). */
  adminToken?: string;
  /** SHA-256 (hex) of the hub's `hubsync_` token. */
  syncTokenHash?: string;
  /** RFC 3339 time of the first registration. */
  createdAt: string;
  /** RFC 3339 time of the last change. */
  updatedAt: string;
}

/** The whole file. */
export interface PortalState {
  portalId: string;
  /** SHA-256 (hex) of the user bearer token; absent for an open portal. */
  userTokenHash?: string;
  hubs: HubRecord[];
}

/** SHA-256 of a token, hex. */
export function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/**
 * Timing-safe comparison of a presented token with a stored SHA-256 (hex): both sides are
 * 32-byte digests, so the comparison time does not depend on the token.
 */
export function tokenMatches(presented: string, storedHash: string | undefined): boolean {
  if (!storedHash || !/^[0-9a-f]{64}$/.test(storedHash)) return false;
  return timingSafeEqual(
    createHash("sha256").update(presented).digest(),
    Buffer.from(storedHash, "hex"),
  );
}

/** A fresh sync token: `hubsync_` + 32 random bytes, base64url (Appendix D §8). */
export function newSyncToken(): string {
  return `hubsync_${randomBytes(32).toString("base64url")}`;
}

/** A fresh user bearer token: 32 random bytes, hex. */
export function newUserToken(): string {
  return randomBytes(32).toString("hex");
}

/** The store file's contents do not make sense. */
export class PortalStoreError extends Error {
  override name = "PortalStoreError";
}

/**
 * The portal's state in memory and on disk. Mutations go through {@link PortalStore.update},
 * which writes the file before resolving; writes are serialised.
 */
export class PortalStore {
  #writing: Promise<void> = Promise.resolve();

  private constructor(readonly path: string, public state: PortalState) {}

  /**
   * Opens (or creates) `<dir>/portal.json`. A new store gets a v4 `portalId` (Appendix D
   * §1.1: generated on first start, persisted, never rotated).
   * @param dir the data folder (created 0700 when missing).
   * @throws {PortalStoreError} for a malformed file (left untouched).
   */
  static async open(dir: string): Promise<PortalStore> {
    const path = join(dir, "portal.json");
    let state: PortalState;
    try {
      const text = await Deno.readTextFile(path);
      try {
        state = JSON.parse(text);
      } catch (err) {
        throw new PortalStoreError(
          `${path}: invalid JSON (${(err as Error).message}); fix or remove the file`,
        );
      }
      if (typeof state?.portalId !== "string" || !Array.isArray(state.hubs)) {
        throw new PortalStoreError(`${path}: missing portalId or hubs; fix or remove the file`);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      state = { portalId: crypto.randomUUID(), hubs: [] };
      const store = new PortalStore(path, state);
      await store.#write();
      return store;
    }
    return new PortalStore(path, state);
  }

  /** The hub of that name (case-insensitive), if any. */
  byName(name: string): HubRecord | undefined {
    const want = name.toLowerCase();
    return this.state.hubs.find((h) => h.name.toLowerCase() === want);
  }

  /** The hub of that `hubId`, if any. */
  byId(hubId: string): HubRecord | undefined {
    return this.state.hubs.find((h) => h.hubId === hubId);
  }

  /**
   * Applies `change` to the state and writes the file.
   * @returns what `change` returned.
   * @throws the write's I/O error (the in-memory change stays: the next write retries it).
   */
  async update<T>(change: (s: PortalState) => T): Promise<T> {
    const result = change(this.state);
    await this.#write();
    return result;
  }

  #write(): Promise<void> {
    const next = this.#writing.catch(() => {}).then(() =>
      writeFileAtomic(this.path, JSON.stringify(this.state, null, 2) + "\n", { mode: 0o600 })
    );
    this.#writing = next;
    return next;
  }
}
