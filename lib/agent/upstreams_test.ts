/**
 * Upstreams (spec agent-and-client.md §6) on real loopback sockets: log lines, dual-stack
 * listen, half-close in both directions, backpressure both ways (bounded bytes in flight),
 * dial failure, close at stop.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Logger } from "../log/mod.ts";
import { startUpstreams } from "./upstreams.ts";

/** A logger that keeps `info: ...` / `warn: ...` lines. */
function recorder(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => lines.push(`${level}: ${m}`);
  return {
    lines,
    log: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
  };
}

/** One TCP server on 127.0.0.1 whose accepted connections the test takes one at a time. */
function server(): { port: number; next: () => Promise<Deno.TcpConn>; close: () => void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return {
    port: l.addr.port,
    next: () => l.accept(),
    close: () => l.close(),
  };
}

async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("upstream: spec §6 log lines, and a listen failure skips only that upstream", async () => {
  const { log, lines } = recorder();
  const taken = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const target = server();
  const ups = startUpstreams(
    [
      { port: 0, target: `127.0.0.1:${target.port}`, name: "postgres" },
      { port: taken.addr.port, target: "db.internal:5432" },
    ],
    log,
    {},
  );
  try {
    const port = ups.listening[0].port;
    assert.deepEqual(lines.slice(0, 1), [`info: postgres: :${port} -> 127.0.0.1:${target.port}`]);
    assert.match(
      lines[1],
      new RegExp(`^warn: listen failed on 0\\.0\\.0\\.0:${taken.addr.port}: `),
    );
    assert.equal(lines[2], "info: 1 listener(s) started");
    assert.equal(lines.length, 3);
  } finally {
    await ups.close();
    taken.close();
    target.close();
  }
});

Deno.test("upstream: listens on every interface, IPv4 and IPv6 (dual-stack)", async () => {
  const { log } = recorder();
  const target = server();
  const ups = startUpstreams([{ port: 0, target: `localhost:${target.port}` }], log);
  const port = ups.listening[0].port;
  try {
    for (const hostname of ["127.0.0.1", "::1"]) {
      const c = await Deno.connect({ hostname, port });
      const t = await target.next();
      await writeAll(c, bytes(`via ${hostname}`));
      await c.closeWrite();
      assert.equal(text(await readToEnd(t)), `via ${hostname}`);
      t.close();
      await readToEnd(c);
      c.close();
    }
  } finally {
    await ups.close();
    target.close();
  }
});

Deno.test("upstream half-close: the client shuts its write side, the target sees EOF and replies, the client reads the reply", async () => {
  const { log } = recorder();
  const target = server();
  const ups = startUpstreams([{ port: 0, target: `127.0.0.1:${target.port}` }], log, {
    hostname: "127.0.0.1",
  });
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: ups.listening[0].port });
    const request = crypto.getRandomValues(new Uint8Array(60_000));
    await writeAll(c, request);
    await c.closeWrite();
    const t = await target.next();
    const got = await readToEnd(t); // ends only because the EOF was passed on
    assert.deepEqual(got, request);
    const digest = createHash("sha256").update(got).digest("hex");
    await writeAll(t, bytes(`got ${got.length} bytes ${digest}`));
    t.close();
    assert.equal(text(await readToEnd(c)), `got ${request.length} bytes ${digest}`);
    c.close();
  } finally {
    await ups.close();
    target.close();
  }
});

Deno.test("upstream half-close the other way: the target's EOF reaches the client, which can still send", async () => {
  const { log } = recorder();
  const target = server();
  const ups = startUpstreams([{ port: 0, target: `127.0.0.1:${target.port}` }], log, {
    hostname: "127.0.0.1",
  });
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: ups.listening[0].port });
    const t = await target.next();
    await writeAll(t, bytes("banner, then nothing more"));
    await t.closeWrite();
    assert.equal(text(await readToEnd(c)), "banner, then nothing more");
    await writeAll(c, bytes("still talking"));
    await c.closeWrite();
    assert.equal(text(await readToEnd(t)), "still talking");
    t.close();
    c.close();
  } finally {
    await ups.close();
    target.close();
  }
});

/** Kernel socket buffer ceilings (`tcp_wmem`/`tcp_rmem` maxima), in octets; 8 MiB if unknown. */
function bufferCeiling(name: "tcp_wmem" | "tcp_rmem"): number {
  try {
    return Number(Deno.readTextFileSync(`/proc/sys/net/ipv4/${name}`).trim().split(/\s+/)[2]);
  } catch {
    return 8 << 20;
  }
}

/**
 * Writes up to `limit` octets of a counter pattern into `conn` in 64 KiB writes and stops
 * when a write has not completed for `stallMs` (the other end does not read).
 * @returns the octets written and the write still pending.
 */
async function writeUntilStalled(
  conn: Deno.Conn,
  limit: number,
  stallMs = 2000,
): Promise<{ written: number; pending: Promise<number> | null }> {
  const chunk = new Uint8Array(64 * 1024);
  let written = 0;
  while (written < limit) {
    for (let i = 0; i < chunk.length; i++) chunk[i] = (written + i) & 0xff;
    const w = writeAll(conn, chunk).then(() => chunk.length);
    let t: ReturnType<typeof setTimeout> | undefined;
    const stalled = await Promise.race([
      w.then(() => false),
      new Promise<boolean>((r) => (t = setTimeout(() => r(true), stallMs))),
    ]);
    clearTimeout(t);
    if (stalled) return { written, pending: w };
    written += chunk.length;
  }
  return { written, pending: null };
}

/** Reads exactly `n` octets and checks they are the counter pattern; returns how many came. */
async function readPattern(conn: Deno.Conn, n: number): Promise<number> {
  const buf = new Uint8Array(256 * 1024);
  let got = 0;
  while (got < n) {
    const r = await conn.read(buf.subarray(0, Math.min(buf.length, n - got)));
    if (r === null) break;
    for (let i = 0; i < r; i++) {
      if (buf[i] !== ((got + i) & 0xff)) throw new Error(`octet ${got + i} differs`);
    }
    got += r;
  }
  return got;
}

for (const direction of ["client to target", "target to client"] as const) {
  Deno.test(`upstream backpressure, ${direction}: a reader that stops reading stops the writer; nothing piles up in telad`, async () => {
    const { log } = recorder();
    const target = server();
    const ups = startUpstreams([{ port: 0, target: `127.0.0.1:${target.port}` }], log, {
      hostname: "127.0.0.1",
    });
    const c = await Deno.connect({ hostname: "127.0.0.1", port: ups.listening[0].port });
    const t = await target.next();
    const [writer, reader] = direction === "client to target" ? [c, t] : [t, c];
    try {
      // Everything the kernels can hold on the way: the writer's send buffer, the upstream's
      // receive and send buffers, the reader's receive buffer; plus 1 MiB for telad itself
      // (it holds at most a chunk or two per direction). Without backpressure telad would
      // read all of `offered` into memory and the writer would never stall.
      const wmem = bufferCeiling("tcp_wmem"), rmem = bufferCeiling("tcp_rmem");
      const bound = 2 * (wmem + rmem) + (1 << 20);
      const offered = bound + (128 << 20);
      const rssBefore = Deno.memoryUsage().rss;
      const { written, pending } = await writeUntilStalled(writer, offered);
      const rssGrowth = Deno.memoryUsage().rss - rssBefore;
      console.log(
        `  ${direction}: writer stalled after ${(written / 2 ** 20).toFixed(1)} MiB ` +
          `(bound ${(bound / 2 ** 20).toFixed(0)} MiB, offered ${(offered / 2 ** 20).toFixed(0)} ` +
          `MiB); test process RSS grew ${(rssGrowth / 2 ** 20).toFixed(1)} MiB`,
      );
      assert.ok(pending, `the writer never stalled: ${written} octets went into the upstream`);
      assert.ok(written <= bound, `${written} octets in flight, more than the ${bound} bound`);
      assert.ok(written > 0, "nothing could be written at all");
      // The reader resumes: every octet arrives, in order, none lost.
      const total = written + 64 * 1024;
      const [got] = await Promise.all([readPattern(reader, total), pending]);
      assert.equal(got, total);
    } finally {
      c.close();
      t.close();
      await ups.close();
      target.close();
    }
  });
}

Deno.test("upstream: a target that refuses is logged and the client's connection closed", async () => {
  const { log, lines } = recorder();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const ups = startUpstreams([{ port: 0, target: `127.0.0.1:${port}`, name: "db" }], log, {
    hostname: "127.0.0.1",
  });
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: ups.listening[0].port });
    assert.equal((await readToEnd(c).catch(() => new Uint8Array())).length, 0);
    c.close();
    assert.match(lines.at(-1)!, new RegExp(`^warn: db: dial 127\\.0\\.0\\.1:${port} failed: `));
  } finally {
    await ups.close();
  }
});

Deno.test("upstream close (telad stop): listener gone, open connections closed", async () => {
  const { log } = recorder();
  const target = server();
  const ups = startUpstreams([{ port: 0, target: `127.0.0.1:${target.port}` }], log, {
    hostname: "127.0.0.1",
  });
  const port = ups.listening[0].port;
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  const t = await target.next();
  await writeAll(c, bytes("x"));
  const one = new Uint8Array(1);
  assert.equal(await t.read(one), 1);
  assert.equal(text(one), "x");
  assert.equal(ups.openSockets, 2);
  await ups.close();
  assert.equal(ups.openSockets, 0);
  assert.equal((await readToEnd(t).catch(() => new Uint8Array())).length, 0, "target side closed");
  await readToEnd(c).catch(() => {});
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  c.close();
  t.close();
  target.close();
});

Deno.test("upstream: a target that leads back to the upstream itself is closed as a loop, not followed", async () => {
  const { log, lines } = recorder();
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  // 127.1 is 127.0.0.1 (inet_aton): a spelling the config check may not know.
  const up = startUpstreams([{ port, target: `127.1:${port}`, name: "db" }], log, {
    hostname: "127.0.0.1",
  });
  try {
    const client = await Deno.connect({ hostname: "127.0.0.1", port });
    // The loop is cut at the first hop: the client's connection ends, nothing piles up.
    const end = await Promise.race([
      readToEnd(client).then(() => "closed", () => "closed"),
      new Promise<string>((r) => {
        const t = setTimeout(() => r("open"), 5000);
        Deno.unrefTimer(t);
      }),
    ]);
    client.close();
    assert.equal(end, "closed", "the client's connection is still open 5 s later");
    assert.ok(
      lines.includes(`warn: db: loop: 127.1:${port} leads back to this upstream; closing`),
      lines.join("\n"),
    );
    const deadline = Date.now() + 5000;
    while (up.openSockets > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(up.openSockets, 0);
  } finally {
    await up.close();
  }
});
