/**
 * Pairing codes (book, *Credentials and pairing*; spec hub-http-api.md §5.5, §6; issue 10
 * decision 5): an owner or admin asks for a short code (`POST /api/admin/pair-code`), a
 * user's `tela pair` or an agent's `telad pair` trades it once for a token of its own
 * (`POST /api/pair`).
 *
 * - A code is `XXXX-XXXX`, uppercase hex: the first 8 hex digits of 6 random bytes, a dash
 *   after the fourth (spec §6.1), so 2^32 values. A new code never replaces a live one (Go
 *   silently replaced the older code on a collision; we draw again).
 * - Codes expire after 10 min by default, 7 days at most, and are swept every 60 s; an
 *   expired code is also dropped when someone tries it.
 * - Live codes survive a restart (`tela admin hub restart` must not void a code handed out
 *   for a week; Go keeps them in memory only, spec §6.1): with a `file`, every change of the
 *   set is written atomically (0600) to `telahubd.pairing.json` beside the config, and
 *   {@link PairingCodes.load} reads it back at start, dropping expired codes. The codes are
 *   bearer secrets: the file is 0600 and no log line shows one.
 * - Single use: a code is deleted when it is redeemed. A register code presented without a
 *   machine id or with another machine's id is kept (spec §6.2).
 * - Failed redemptions (unknown code, expired code, wrong machine) are rate-limited: at most
 *   {@link PER_CLIENT_FAILURES} per minute from one client address and
 *   {@link HUB_FAILURES} per minute for the whole hub; beyond that every redemption is
 *   answered 429 `{"error":"too many pairing attempts; retry in <n>s"}` until the oldest
 *   failure of the window is a minute old.
 *
 * What the limits buy: an attacker, however many addresses they use, gets at most 100
 * guesses a minute. Against one live code among 2^32 values that is a chance of
 * 100 / 2^32 ≈ 2.3 × 10^-8 per minute: ≈ 2.3 × 10^-7 over a default 10-minute code, and
 * ≈ 2.3 × 10^-4 (1 in ≈ 4300) over a code left live for the full 7 days; k live codes
 * multiply it by k. The hub-wide limit also means a flood of bad guesses can hold up honest
 * pairing for up to a minute at a time; it cannot make a guess succeed.
 *
 * Redemption adds the identity through {@link AccessStore.addPaired}, which persists it and
 * records the audit event; the actor is the identity that generated the code (`via: "pair"`).
 *
 * @module
 */
import type { AccessStore } from "./access/types.ts";
import { writeFileAtomic } from "../config/mod.ts";
import { logger } from "../log/mod.ts";

const log = logger("hub");

/** The file live codes are kept in, beside `telahubd.yaml`. */
export const PAIRING_FILE = "telahubd.pairing.json";

/** Default code lifetime, ms (spec §0). */
export const PAIR_DEFAULT_TTL_MS = 10 * 60_000;
/** Longest code lifetime, ms: 7 days (spec §0). */
export const PAIR_MAX_TTL_MS = 7 * 24 * 3600_000;
/** How often expired codes are swept, ms (spec §6.1). */
export const PAIR_SWEEP_MS = 60_000;
/** Failed redemptions allowed per client address per {@link FAILURE_WINDOW_MS}. */
export const PER_CLIENT_FAILURES = 10;
/** Failed redemptions allowed hub-wide per {@link FAILURE_WINDOW_MS}. */
export const HUB_FAILURES = 100;
/** The rate-limit window, ms. */
export const FAILURE_WINDOW_MS = 60_000;

/** A pairing request refused, with the HTTP status and the exact JSON body (spec §4.4, §5.5). */
export class PairingError extends Error {
  override name = "PairingError";
  /**
   * @param status HTTP status.
   * @param body JSON body (`{"error": ...}`).
   * @param retryAfterS for 429: seconds until a retry can succeed.
   */
  constructor(
    readonly status: number,
    readonly body: { error: string },
    readonly retryAfterS?: number,
  ) {
    super(body.error);
  }
}

/** What a code grants. */
export type PairType = "connect" | "register";

/** A live pairing code. */
export interface PairingCode {
  /** `XXXX-XXXX`. */
  code: string;
  type: PairType;
  /** Register codes: the machine the agent must name; connect codes: stored, unused. */
  machineId: string;
  /** `hubRole` of the identity the redemption creates (default `user`). */
  role: string;
  /** Connect codes: machines the new identity may connect to (default `["*"]`). */
  machines: string[];
  /** Expiry, ms since the epoch. */
  expiresAt: number;
  /** Identity id of the owner/admin who generated it (the audit actor of the redemption). */
  createdBy: string;
}

/** A successful redemption, as `POST /api/pair` returns it (strings only, spec §4.4). */
export interface Redeemed {
  token: string;
  identity: string;
  type: PairType;
}

/** Options of {@link PairingCodes}. */
export interface PairingOptions {
  /** Clock, ms since the epoch (tests inject). */
  now?: () => number;
  /** Random bytes (tests inject to force a collision). */
  random?: (n: number) => Uint8Array;
  /** Where live codes are kept across restarts ({@link PAIRING_FILE}); none = memory only. */
  file?: string;
}

const CODE_FORMAT = /^[0-9A-F]{4}-[0-9A-F]{4}$/;

/** One code as {@link PAIRING_FILE} holds it (`expiresAt` RFC 3339 UTC). */
interface StoredCode {
  code: string;
  type: PairType;
  machineId: string;
  role: string;
  machines: string[];
  expiresAt: string;
  createdBy: string;
}

/** A stored code read back, or `undefined` when the entry is malformed. */
function fromStored(v: unknown): PairingCode | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const expiresAt = typeof o.expiresAt === "string" ? Date.parse(o.expiresAt) : NaN;
  if (
    typeof o.code !== "string" || !CODE_FORMAT.test(o.code) ||
    (o.type !== "connect" && o.type !== "register") || typeof o.machineId !== "string" ||
    typeof o.role !== "string" || !Array.isArray(o.machines) ||
    !o.machines.every((m) => typeof m === "string") || typeof o.createdBy !== "string" ||
    Number.isNaN(expiresAt)
  ) {
    return undefined;
  }
  return {
    code: o.code,
    type: o.type,
    machineId: o.machineId,
    role: o.role,
    machines: o.machines as string[],
    expiresAt,
    createdBy: o.createdBy,
  };
}

/**
 * Makes a code from 6 random bytes: the first 8 uppercase hex digits, dash after the fourth.
 * @param bytes at least 4 bytes (6 are drawn, as Go does).
 */
export function formatCode(bytes: Uint8Array): string {
  const hex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join("")
    .toUpperCase();
  return `${hex.slice(0, 4)}-${hex.slice(4, 8)}`;
}

/** The sliding-window limiter of failed redemptions (decision 5). */
export class FailureLimiter {
  readonly #perClient = new Map<string, number[]>();
  #hub: number[] = [];

  /**
   * @param perClient failures allowed per address per window.
   * @param hubWide failures allowed for the hub per window.
   * @param windowMs the window, ms.
   */
  constructor(
    readonly perClient = PER_CLIENT_FAILURES,
    readonly hubWide = HUB_FAILURES,
    readonly windowMs = FAILURE_WINDOW_MS,
  ) {}

  /**
   * Seconds the client must wait before another attempt can be judged, or 0 when it may try.
   * @param client the client address.
   * @param now ms since the epoch.
   */
  blockedFor(client: string, now: number): number {
    this.#prune(now);
    let until = -Infinity; // the failure whose ageing out frees a slot
    const mine = this.#perClient.get(client);
    if (mine && mine.length >= this.perClient) until = mine[mine.length - this.perClient];
    if (this.#hub.length >= this.hubWide) {
      until = Math.max(until, this.#hub[this.#hub.length - this.hubWide]);
    }
    if (until === -Infinity) return 0;
    return Math.max(1, Math.ceil((until + this.windowMs - now) / 1000));
  }

  /**
   * Counts one failure.
   * @param client the client address.
   * @param now ms since the epoch.
   */
  fail(client: string, now: number): void {
    let mine = this.#perClient.get(client);
    if (!mine) this.#perClient.set(client, mine = []);
    mine.push(now);
    if (mine.length > this.perClient) mine.shift();
    this.#hub.push(now);
    if (this.#hub.length > this.hubWide) this.#hub.shift();
  }

  /** Addresses with failures inside the window (for tests: memory stays bounded). */
  get clients(): number {
    return this.#perClient.size;
  }

  #prune(now: number): void {
    const cut = now - this.windowMs;
    while (this.#hub.length && this.#hub[0] <= cut) this.#hub.shift();
    for (const [k, list] of this.#perClient) {
      while (list.length && list[0] <= cut) list.shift();
      if (!list.length) this.#perClient.delete(k);
    }
  }
}

/** The live codes of one hub, with the failure limiter. */
export class PairingCodes {
  readonly #codes = new Map<string, PairingCode>();
  readonly #now: () => number;
  readonly #random: (n: number) => Uint8Array;
  readonly #file?: string;
  #saving: Promise<void> = Promise.resolve();
  #saveQueued = false;
  #timer?: ReturnType<typeof setInterval>;
  /** The failed-redemption limiter (exposed for tests). */
  readonly limiter: FailureLimiter;

  /**
   * @param opts clock and randomness overrides.
   * @param limiter the failure limiter (default: decision 5's figures).
   */
  constructor(opts: PairingOptions = {}, limiter = new FailureLimiter()) {
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
    this.#file = opts.file;
    this.limiter = limiter;
  }

  /**
   * Reads the live codes of the file given as `file` (none: nothing to do). Expired and
   * malformed entries are dropped (and the file rewritten without them); a missing file is
   * an empty set; an unreadable or invalid one is logged and ignored (codes generated from
   * now on replace it).
   * @returns how many codes were loaded.
   */
  async load(): Promise<number> {
    if (!this.#file) return 0;
    let text: string;
    try {
      text = await Deno.readTextFile(this.#file);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        log.warn(`pairing codes: cannot read ${this.#file}: ${(err as Error).message}`);
      }
      return 0;
    }
    let list: unknown[];
    try {
      const doc = JSON.parse(text);
      list = Array.isArray(doc?.codes) ? doc.codes : [];
    } catch (err) {
      log.warn(
        `pairing codes: ${this.#file} is not valid JSON (${(err as Error).message}); the codes ` +
          "in it are void: generate new ones with tela admin pair-code",
      );
      return 0;
    }
    const now = this.#now();
    let loaded = 0;
    let dropped = 0;
    for (const v of list) {
      const c = fromStored(v);
      if (!c || now > c.expiresAt) {
        dropped++;
        continue;
      }
      this.#codes.set(c.code, c);
      loaded++;
    }
    if (loaded || dropped) {
      log.info(
        `pairing codes: ${loaded} live code(s) restored from ${this.#file}` +
          (dropped ? `, ${dropped} expired or invalid dropped` : ""),
      );
    }
    if (dropped) this.#save();
    return loaded;
  }

  /** Resolves once the file holds the current set (write failures are logged, not thrown). */
  async flush(): Promise<void> {
    let seen: Promise<void> | undefined;
    while (seen !== this.#saving) {
      seen = this.#saving;
      await seen;
    }
  }

  /** Schedules a write of the live codes (one at a time; a burst of changes is one write). */
  #save(): void {
    const file = this.#file;
    if (!file || this.#saveQueued) return;
    this.#saveQueued = true;
    this.#saving = this.#saving.then(async () => {
      this.#saveQueued = false;
      const now = this.#now();
      const codes: StoredCode[] = [...this.#codes.values()].filter((c) => now <= c.expiresAt).map(
        (c) => ({ ...c, expiresAt: new Date(c.expiresAt).toISOString() }),
      );
      try {
        await writeFileAtomic(file, JSON.stringify({ codes }, null, 2) + "\n", { mode: 0o600 });
      } catch (err) {
        log.warn(
          `pairing codes: cannot write ${file}: ${(err as Error).message} (the codes work ` +
            "until the hub restarts)",
        );
      }
    });
  }

  /** Starts the 60 s sweep (an unref'd timer: it never keeps the process alive). */
  start(): this {
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.sweep(), PAIR_SWEEP_MS);
      Deno.unrefTimer(timer as unknown as number);
      this.#timer = timer;
    }
    return this;
  }

  /** Stops the sweep. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Drops expired codes. @returns how many were dropped. */
  sweep(): number {
    const now = this.#now();
    let n = 0;
    for (const [k, c] of this.#codes) {
      if (now > c.expiresAt) {
        this.#codes.delete(k);
        n++;
      }
    }
    if (n) this.#save();
    return n;
  }

  /** Live codes (tests, diagnostics). */
  get size(): number {
    return this.#codes.size;
  }

  /**
   * Creates a code.
   * @param req what it grants; `ttlMs` in ms (1 ms … {@link PAIR_MAX_TTL_MS}).
   * @returns the stored code.
   */
  generate(req: Omit<PairingCode, "code" | "expiresAt"> & { ttlMs: number }): PairingCode {
    let code = formatCode(this.#random(6));
    for (let i = 0; this.#codes.has(code) && i < 100; i++) code = formatCode(this.#random(6));
    if (this.#codes.has(code)) {
      throw new PairingError(500, { error: "failed to generate code" });
    }
    const { ttlMs, ...rest } = req;
    const c: PairingCode = { ...rest, code, expiresAt: this.#now() + ttlMs };
    this.#codes.set(code, c);
    this.#save();
    return c;
  }

  /**
   * Redeems a code (spec §4.4, §6.2): checks the rate limit, the code, its expiry and (for
   * register codes) the machine id, then deletes it and adds the identity.
   * @param code the code as sent (exact, case-sensitive).
   * @param machineId the agent's machine id (register codes; `""` = the code's machine).
   * @param client the client address the limiter counts failures against.
   * @param store where the new identity goes.
   * @throws {PairingError} 429 rate limit, 401 unknown/expired/mismatch.
   * @throws {AccessError} from the store (e.g. 500 when the config cannot be written).
   */
  redeem(code: string, machineId: string, client: string, store: AccessStore): Redeemed {
    const now = this.#now();
    const wait = this.limiter.blockedFor(client, now);
    if (wait > 0) {
      throw new PairingError(429, { error: `too many pairing attempts; retry in ${wait}s` }, wait);
    }
    const c = this.#codes.get(code);
    if (!c) {
      this.limiter.fail(client, now);
      throw new PairingError(401, { error: "pairing code not found" });
    }
    if (now > c.expiresAt) {
      this.#codes.delete(code);
      this.#save();
      this.limiter.fail(client, now);
      throw new PairingError(401, { error: "pairing code expired" });
    }
    if (c.type === "register") {
      // Without a machine id the code's own machine is meant: the book's `telad pair -hub
      // <hub> -code <code>` sends none (Go answers 400 here; spec §4.4). A machine id that
      // differs is still refused and keeps the code.
      if (machineId && machineId !== c.machineId) {
        this.limiter.fail(client, now);
        throw new PairingError(401, { error: "pairing code does not match machine ID" });
      }
    }
    this.#codes.delete(code); // single use, even if the store then fails
    this.#save();
    const added = store.addPaired(
      { type: c.type, machineId: c.machineId, role: c.role, machines: c.machines },
      { id: c.createdBy, via: "pair" },
    );
    return { token: added.token, identity: added.id, type: c.type };
  }
}

/**
 * Parses `expiresIn` of `POST /api/admin/pair-code` (spec §5.5): a JSON number of seconds
 * (fraction truncated), a Go duration string (`90s`, `1h30m`), or `<float>d` days; absent,
 * null, zero or negative mean the 10-minute default.
 * @param v the JSON value.
 * @returns the lifetime in ms.
 * @throws {PairingError} 400 with Go's texts for a wrong type, an unparsable string, or more
 *   than 7 days.
 */
export function parseExpiresIn(v: unknown): number {
  let ms: number;
  if (v === undefined || v === null) return PAIR_DEFAULT_TTL_MS;
  if (typeof v === "number") {
    ms = Math.trunc(v) * 1000;
  } else if (typeof v === "string") {
    ms = parseDurationString(v);
  } else {
    throw new PairingError(400, {
      error: "expiresIn must be a number (seconds) or duration string",
    });
  }
  if (!(ms > 0)) return PAIR_DEFAULT_TTL_MS;
  if (ms > PAIR_MAX_TTL_MS) {
    throw new PairingError(400, { error: "expiresIn exceeds maximum of 7 days (604800 seconds)" });
  }
  return ms;
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's `time.ParseDuration` plus `<float>d`, in ms; errors worded as Go's. */
function parseDurationString(s: string): number {
  const bad = (why: string) =>
    new PairingError(400, {
      error: `parse duration ${JSON.stringify(s)}: time: ${why} ${JSON.stringify(s)}`,
    });
  if (s.endsWith("d")) {
    const days = s.slice(0, -1);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(days)) throw bad("invalid duration");
    return Number(days) * 86_400_000;
  }
  let body = s;
  let sign = 1;
  if (body.startsWith("-") || body.startsWith("+")) {
    if (body[0] === "-") sign = -1;
    body = body.slice(1);
  }
  if (body === "0") return 0;
  if (body === "") throw bad("invalid duration");
  const re = /(\d+\.?\d*|\.\d+)([a-zµμ]*)/y;
  let total = 0;
  let i = 0;
  while (i < body.length) {
    re.lastIndex = i;
    const m = re.exec(body);
    if (!m) throw bad("invalid duration");
    if (m[2] === "") throw bad("missing unit in duration");
    const unit = UNIT_MS[m[2]];
    if (unit === undefined) {
      throw new PairingError(400, {
        error: `parse duration ${JSON.stringify(s)}: time: unknown unit ${
          JSON.stringify(m[2])
        } in duration ${JSON.stringify(s)}`,
      });
    }
    total += Number(m[1]) * unit;
    i = re.lastIndex;
  }
  return sign * total;
}

/**
 * RFC 3339 in the hub's local time zone with a numeric offset (`Z` when the offset is 0), to
 * the second, as Go's `time.Now().Format(time.RFC3339)` writes `expiresAt` (spec §5.5).
 * @param ms ms since the epoch.
 */
export function localRfc3339(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const off = -d.getTimezoneOffset(); // minutes east of UTC
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  if (off === 0) return `${local}Z`;
  const a = Math.abs(off);
  const hh = String(Math.floor(a / 60)).padStart(2, "0");
  const mm = String(a % 60).padStart(2, "0");
  return `${local}${off < 0 ? "-" : "+"}${hh}:${mm}`;
}
