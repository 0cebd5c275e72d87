import assert from "node:assert/strict";
import type { AccessStore } from "./access/types.ts";
import {
  FailureLimiter,
  formatCode,
  localRfc3339,
  PAIR_DEFAULT_TTL_MS,
  PAIR_MAX_TTL_MS,
  PairingCodes,
  PairingError,
  parseExpiresIn,
} from "./pairing.ts";

/** Only addPaired is reached by redeem; it records what it was asked. */
function recordingStore(calls: unknown[]): AccessStore {
  return {
    addPaired(req: unknown, actor: unknown) {
      calls.push({ req, actor });
      return { id: `id-${calls.length}`, token: "t".repeat(64) };
    },
  } as unknown as AccessStore;
}

function refused(fn: () => unknown, status: number, error: string | RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof PairingError, String(e));
    assert.equal(e.status, status);
    if (typeof error === "string") assert.equal(e.body.error, error);
    else assert.match(e.body.error, error);
    return true;
  });
}

Deno.test("a code is XXXX-XXXX uppercase hex from the first 4 random bytes (spec §6.1)", () => {
  assert.equal(formatCode(new Uint8Array([0xa1, 0xb2, 0xc3, 0xd4, 0xff, 0xff])), "A1B2-C3D4");
  const codes = new PairingCodes();
  for (let i = 0; i < 50; i++) {
    assert.match(
      codes.generate({
        type: "connect",
        machineId: "",
        role: "user",
        machines: ["*"],
        ttlMs: 1000,
        createdBy: "owner",
      }).code,
      /^[0-9A-F]{4}-[0-9A-F]{4}$/,
    );
  }
  assert.equal(codes.size, 50);
});

Deno.test("a new code never replaces a live one with the same value", () => {
  let n = 0;
  // The first two draws collide, the third differs.
  const draws = [[1, 2, 3, 4, 0, 0], [1, 2, 3, 4, 0, 0], [9, 9, 9, 9, 0, 0]];
  const codes = new PairingCodes({ random: () => new Uint8Array(draws[Math.min(n++, 2)]) });
  const req = { type: "connect" as const, machineId: "", role: "user", machines: ["*"] };
  const a = codes.generate({ ...req, ttlMs: 1000, createdBy: "o" });
  const b = codes.generate({ ...req, ttlMs: 1000, createdBy: "o" });
  assert.equal(a.code, "0102-0304");
  assert.equal(b.code, "0909-0909");
  assert.equal(codes.size, 2);
});

Deno.test("expiresIn: numbers are whole seconds, strings Go durations or <n>d, 7 days at most", () => {
  assert.equal(parseExpiresIn(undefined), PAIR_DEFAULT_TTL_MS);
  assert.equal(parseExpiresIn(null), PAIR_DEFAULT_TTL_MS);
  assert.equal(parseExpiresIn(0), PAIR_DEFAULT_TTL_MS);
  assert.equal(parseExpiresIn(-5), PAIR_DEFAULT_TTL_MS);
  assert.equal(parseExpiresIn(600.9), 600_000);
  assert.equal(parseExpiresIn(604800), PAIR_MAX_TTL_MS);
  assert.equal(parseExpiresIn("15m"), 900_000);
  assert.equal(parseExpiresIn("1h30m"), 5_400_000);
  assert.equal(parseExpiresIn("7d"), PAIR_MAX_TTL_MS);
  assert.equal(parseExpiresIn("1.5d"), 1.5 * 86_400_000);
  assert.equal(parseExpiresIn("0"), PAIR_DEFAULT_TTL_MS);
  const max = "expiresIn exceeds maximum of 7 days (604800 seconds)";
  refused(() => parseExpiresIn(604801), 400, max);
  refused(() => parseExpiresIn("8d"), 400, max);
  refused(() => parseExpiresIn("169h"), 400, max);
  const type = "expiresIn must be a number (seconds) or duration string";
  refused(() => parseExpiresIn(true), 400, type);
  refused(() => parseExpiresIn([1]), 400, type);
  refused(
    () => parseExpiresIn("soon"),
    400,
    'parse duration "soon": time: invalid duration "soon"',
  );
  refused(() => parseExpiresIn("10"), 400, /^parse duration "10": time: missing unit/);
  refused(() => parseExpiresIn("5y"), 400, /^parse duration "5y": time: unknown unit "y"/);
});

Deno.test("redeeming: unknown, expired and wrong-machine codes fail; success is single use", () => {
  let now = 1_000_000;
  const calls: unknown[] = [];
  const store = recordingStore(calls);
  // Codes with letters (A…F), so the lowercase spelling below is another string: a random
  // code is all digits about 2% of the time, which made this test flaky.
  let draw = 0;
  const random = (n: number) => {
    const b = new Uint8Array(n);
    b.set([0xab, 0xcd, 0xe0 + (draw >> 8 & 0x0f), draw++ & 0xff]);
    return b;
  };
  const codes = new PairingCodes({ now: () => now, random });
  const reg = codes.generate({
    type: "register",
    machineId: "barn",
    role: "user",
    machines: [],
    ttlMs: 60_000,
    createdBy: "alice",
  });
  refused(() => codes.redeem("NOPE-NOPE", "", "a", store), 401, "pairing code not found");
  refused(
    () => codes.redeem(reg.code, "shed", "a", store),
    401,
    "pairing code does not match machine ID",
  );
  // Lowercase is another code (exact lookup).
  assert.notEqual(reg.code.toLowerCase(), reg.code);
  refused(() => codes.redeem(reg.code.toLowerCase(), "barn", "a", store), 401, /not found/);
  const r = codes.redeem(reg.code, "barn", "a", store);
  assert.deepEqual(r, { token: "t".repeat(64), identity: "id-1", type: "register" });
  assert.deepEqual(calls[0], {
    req: { type: "register", machineId: "barn", role: "user", machines: [] },
    actor: { id: "alice", via: "pair" },
  });
  refused(() => codes.redeem(reg.code, "barn", "a", store), 401, "pairing code not found");

  const con = codes.generate({
    type: "connect",
    machineId: "",
    role: "viewer",
    machines: ["barn", "shed"],
    ttlMs: 60_000,
    createdBy: "bob",
  });
  now += 60_000; // exactly at expiry: still valid (Go: expired when now is after expiresAt)
  assert.equal(codes.redeem(con.code, "", "b", store).type, "connect");
  const late = codes.generate({ ...con, ttlMs: 1000 });
  now += 1001;
  refused(() => codes.redeem(late.code, "", "c", store), 401, "pairing code expired");
  refused(() => codes.redeem(late.code, "", "c", store), 401, "pairing code not found");
});

Deno.test("the sweep drops expired codes only", () => {
  let now = 0;
  const codes = new PairingCodes({ now: () => now });
  const base = { type: "connect" as const, machineId: "", role: "user", machines: ["*"] };
  codes.generate({ ...base, ttlMs: 1000, createdBy: "o" });
  codes.generate({ ...base, ttlMs: 5000, createdBy: "o" });
  now = 2000;
  assert.equal(codes.sweep(), 1);
  assert.equal(codes.size, 1);
});

Deno.test("10 failures a minute per address, 100 hub-wide; the window slides (decision 5)", () => {
  const lim = new FailureLimiter();
  let t = 0;
  for (let i = 0; i < 10; i++) {
    assert.equal(lim.blockedFor("a", t), 0);
    lim.fail("a", t);
    t += 1000;
  }
  // The 10th failure was at 9 s; the first at 0 s ages out at 60 s.
  assert.equal(lim.blockedFor("a", t), 50);
  assert.equal(lim.blockedFor("b", t), 0, "another address is not held up");
  assert.equal(lim.blockedFor("a", 60_000), 0);
  // Hub-wide: 100 failures from 100 addresses block everyone.
  const hub = new FailureLimiter();
  for (let i = 0; i < 100; i++) hub.fail(`10.0.0.${i}`, 1000);
  assert.equal(hub.blockedFor("fresh", 2000), 59);
  assert.equal(hub.blockedFor("fresh", 61_001), 0);
  assert.equal(hub.clients, 0, "expired entries are pruned");
});

Deno.test("a rate-limited client gets 429 even with a good code, and the code survives", () => {
  const calls: unknown[] = [];
  const store = recordingStore(calls);
  const now = 5000;
  const codes = new PairingCodes({ now: () => now });
  const c = codes.generate({
    type: "connect",
    machineId: "",
    role: "user",
    machines: ["*"],
    ttlMs: 600_000,
    createdBy: "o",
  });
  for (let i = 0; i < 10; i++) {
    refused(() => codes.redeem(`BAD0-000${i}`, "", "1.2.3.4", store), 401, /not found/);
  }
  refused(
    () => codes.redeem(c.code, "", "1.2.3.4", store),
    429,
    "too many pairing attempts; retry in 60s",
  );
  assert.equal(calls.length, 0);
  assert.equal(codes.redeem(c.code, "", "5.6.7.8", store).type, "connect");
});

Deno.test("expiresAt is RFC 3339 in local time with a numeric offset, Z for UTC", () => {
  const s = localRfc3339(Date.UTC(2026, 3, 21, 7, 10, 0, 500));
  assert.match(s, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$/);
  assert.equal(Date.parse(s), Date.UTC(2026, 3, 21, 7, 10, 0));
});

Deno.test("live codes are kept in a 0600 file and read back; expired ones are dropped on load", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pairing-file-" });
  try {
    const file = `${dir}/telahubd.pairing.json`;
    let now = 1_000_000;
    const a = new PairingCodes({ now: () => now, file });
    const keep = a.generate({
      type: "connect",
      machineId: "",
      role: "user",
      machines: ["barn"],
      ttlMs: 3_600_000,
      createdBy: "alice",
    });
    const short = a.generate({ ...keep, ttlMs: 1000 });
    const used = a.generate({ ...keep, ttlMs: 3_600_000 });
    a.redeem(used.code, "", "x", recordingStore([]));
    await a.flush();
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    const onDisk = await Deno.readTextFile(file);
    assert.ok(onDisk.includes(keep.code) && onDisk.includes(short.code));
    assert.ok(!onDisk.includes(used.code), "a redeemed code is gone from the file");

    now += 2000; // `short` has expired
    const b = new PairingCodes({ now: () => now, file });
    assert.equal(await b.load(), 1);
    assert.equal(b.size, 1);
    refused(() => b.redeem(short.code, "", "y", recordingStore([])), 401, /not found/);
    const calls: unknown[] = [];
    assert.equal(b.redeem(keep.code, "", "y", recordingStore(calls)).type, "connect");
    assert.deepEqual(calls[0], {
      req: { type: "connect", machineId: "", role: "user", machines: ["barn"] },
      actor: { id: "alice", via: "pair" },
    });
    await b.flush();
    assert.deepEqual(JSON.parse(await Deno.readTextFile(file)), { codes: [] });

    await Deno.writeTextFile(file, "{not json");
    assert.equal(await new PairingCodes({ file }).load(), 0, "a bad file is ignored");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
