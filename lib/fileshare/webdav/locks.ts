/**
 * WebDAV write locks kept in memory (RFC 4918 §6-§7, §9.10-§9.11) and the `If` request header
 * (RFC 4918 §10.4). Locks live as long as the `tela mount` process; the agent knows nothing of
 * them, so they only coordinate the clients of this one WebDAV server (as Go's in-memory
 * lock system did, spec agent-and-client.md §4.4).
 *
 * Paths are the server's decoded resource paths: `/` joined segments with a leading `/`, no
 * trailing slash (the root is `/`).
 * @module
 */

/** One lock (RFC 4918 §6.1). */
export interface Lock {
  /** `opaquelocktoken:<uuid>` (RFC 4918 Appendix C). */
  token: string;
  /** The resource the lock was taken on (lock-root). */
  root: string;
  /** `0` covers the root only, `infinity` also everything below it. */
  depth: "0" | "infinity";
  /** Exclusive or shared (RFC 4918 §6.2). */
  scope: "exclusive" | "shared";
  /** The `DAV:owner` element from the request, serialised, or `""`. */
  owner: string;
  /** Seconds the lock lives after its creation or last refresh; `Infinity` for Infinite. */
  timeout: number;
  /** When it expires, ms since the epoch (`Infinity` for never). */
  expires: number;
}

/** A lock request conflicts with an existing lock (RFC 4918 §9.10.6: 423, no-conflicting-lock). */
export class LockConflictError extends Error {
  override name = "LockConflictError";
  /** The lock-root of the conflicting lock. */
  readonly root: string;
  /** @param root the path of the lock that conflicts. */
  constructor(root: string) {
    super(`the resource is locked (lock taken on ${root})`);
    this.root = root;
  }
}

/** Whether `path` is `root` or below it. */
export function within(path: string, root: string): boolean {
  if (root === "/") return true;
  return path === root || path.startsWith(root + "/");
}

/** The in-memory lock table of one WebDAV server. */
export class LockManager {
  #locks = new Map<string, Lock>();
  #now: () => number;

  /** @param now the clock in ms (tests pass their own). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #sweep(): void {
    const t = this.#now();
    for (const [k, l] of this.#locks) if (l.expires <= t) this.#locks.delete(k);
  }

  /** Locks whose scope includes `path`: taken on it, or depth infinity on an ancestor. */
  covering(path: string): Lock[] {
    this.#sweep();
    return [...this.#locks.values()].filter((l) =>
      l.root === path || (l.depth === "infinity" && within(path, l.root))
    );
  }

  /** Locks taken on `path` or anywhere below it. */
  below(path: string): Lock[] {
    this.#sweep();
    return [...this.#locks.values()].filter((l) => within(l.root, path));
  }

  /** The live lock with this token, if any. */
  get(token: string): Lock | undefined {
    this.#sweep();
    return this.#locks.get(token);
  }

  /**
   * Takes a new lock.
   * @param root the resource path.
   * @param scope exclusive or shared.
   * @param depth `0` or `infinity`.
   * @param owner the serialised `DAV:owner` element or `""`.
   * @param timeout seconds (`Infinity` for Infinite).
   * @throws LockConflictError when an exclusive lock covers or lies below `root` (for depth
   *   infinity), or any lock does and `scope` is exclusive.
   */
  create(
    root: string,
    scope: Lock["scope"],
    depth: Lock["depth"],
    owner: string,
    timeout: number,
  ): Lock {
    const clash = [...this.covering(root), ...(depth === "infinity" ? this.below(root) : [])]
      .find((l) => scope === "exclusive" || l.scope === "exclusive");
    if (clash) throw new LockConflictError(clash.root);
    const lock: Lock = {
      token: `opaquelocktoken:${crypto.randomUUID()}`,
      root,
      depth,
      scope,
      owner,
      timeout,
      expires: this.#now() + timeout * 1000,
    };
    this.#locks.set(lock.token, lock);
    return lock;
  }

  /** Restarts a lock's timeout (RFC 4918 §9.10.2). */
  refresh(lock: Lock, timeout: number): void {
    lock.timeout = timeout;
    lock.expires = this.#now() + timeout * 1000;
  }

  /** Removes the lock with this token; false when there was none. */
  remove(token: string): boolean {
    return this.#locks.delete(token);
  }

  /** Drops every lock on or below `path` (after DELETE or MOVE of the resource). */
  removeBelow(path: string): void {
    for (const l of this.below(path)) this.#locks.delete(l.token);
  }
}

/** One condition of an `If` list: a state token or an entity tag, maybe negated. */
export interface IfCondition {
  not: boolean;
  /** A Coded-URL's content (`opaquelocktoken:...`, `DAV:no-lock`). */
  token?: string;
  /** An entity tag including its quotes (`"abc"`, `W/"abc"`). */
  etag?: string;
}

/** One list of an `If` header: its resource tag (absent for untagged lists) and conditions. */
export interface IfList {
  resource?: string;
  conditions: IfCondition[];
}

/** The `If` header does not follow RFC 4918 §10.4's grammar (400 Bad Request). */
export class IfHeaderError extends Error {
  override name = "IfHeaderError";
}

/**
 * Parses an `If` header (RFC 4918 §10.4.2):
 * `No-tag-list = List+`, `Tagged-list = (Resource-Tag List+)+`,
 * `List = "(" (["Not"] (State-token | "[" entity-tag "]"))+ ")"`.
 * @throws IfHeaderError on a syntax error.
 */
export function parseIfHeader(value: string): IfList[] {
  const lists: IfList[] = [];
  let i = 0;
  let resource: string | undefined;
  const ws = () => {
    while (i < value.length && /\s/.test(value[i])) i++;
  };
  const until = (end: string) => {
    const j = value.indexOf(end, i);
    if (j < 0) throw new IfHeaderError(`If header: missing "${end}" after position ${i}`);
    const s = value.slice(i, j);
    i = j + 1;
    return s;
  };
  ws();
  while (i < value.length) {
    if (value[i] === "<") {
      i++;
      resource = until(">");
    } else if (value[i] === "(") {
      i++;
      const conditions: IfCondition[] = [];
      for (;;) {
        ws();
        if (value[i] === ")") {
          i++;
          break;
        }
        let not = false;
        if (value.slice(i, i + 3).toLowerCase() === "not") {
          not = true;
          i += 3;
          ws();
        }
        if (value[i] === "<") {
          i++;
          conditions.push({ not, token: until(">") });
        } else if (value[i] === "[") {
          i++;
          conditions.push({ not, etag: until("]") });
        } else {
          throw new IfHeaderError(`If header: unexpected "${value[i] ?? "end"}" at ${i}`);
        }
      }
      if (!conditions.length) throw new IfHeaderError("If header: empty list ()");
      lists.push({ resource, conditions });
    } else {
      throw new IfHeaderError(`If header: unexpected "${value[i]}" at ${i}`);
    }
    ws();
  }
  if (!lists.length) throw new IfHeaderError("If header: no list");
  return lists;
}
