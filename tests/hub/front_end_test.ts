/**
 * The hub's front end cannot be knocked over (issue 9, item 4), against a real
 * `telahubd` process over loopback with raw bytes: header and idle deadlines,
 * the cap on unauthenticated connections, descriptor exhaustion (a hub run under
 * a 256-descriptor limit), WebSocket messages refused from their header before
 * they are buffered, bounded HTTP heads and bodies, and unmasked client frames
 * closed with 1002 (RFC 6455 §5.1).
 */
import assert from "node:assert/strict";
import {
  getJson,
  type HubProcess,
  ScriptedAgent,
  startHubProcess,
  waitFor,
} from "./scripted_peers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Reads until the hub ends the connection or `timeoutMs` passes; never throws. */
async function readUntilEnd(
  conn: Deno.Conn,
  timeoutMs: number,
): Promise<{ bytes: Uint8Array; ended: boolean }> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  const buf = new Uint8Array(65536);
  try {
    for (let i = 0; i < 10_000; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
    }
  } catch { /* reset by the hub, or closed by the timer */ }
  clearTimeout(timer);
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) bytes.set(c, o), o += c.length;
  return { bytes, ended: !timedOut };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed */ }
}

/** Opens a WebSocket by hand; returns the connection after the 101 head. */
async function rawUpgrade(port: number): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(enc.encode(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  let head = "";
  const buf = new Uint8Array(1);
  for (let i = 0; i < 4096 && !head.endsWith("\r\n\r\n"); i++) {
    const n = await conn.read(buf); // byte by byte: nothing after the head is consumed
    assert.ok(n, "the hub answers the upgrade");
    head += String.fromCharCode(buf[0]);
  }
  assert.match(head, /^HTTP\/1\.1 101 /);
  return conn;
}

/** The code of the first Close frame in server-to-client bytes, if any. */
function closeCode(bytes: Uint8Array): number | undefined {
  let p = 0;
  while (p + 2 <= bytes.length) {
    const op = bytes[p] & 0x0f;
    let len = bytes[p + 1] & 0x7f;
    let h = 2;
    if (len === 126) len = (bytes[p + 2] << 8) | bytes[p + 3], h = 4;
    else if (len === 127) len = new DataView(bytes.buffer).getUint32(p + 6), h = 10;
    if (op === 0x8) return len >= 2 ? (bytes[p + h] << 8) | bytes[p + h + 1] : 1005;
    p += h + len;
  }
  return undefined;
}

/** A client frame header (masked unless `masked` is false) announcing `len` payload bytes. */
function frameHeader(op: number, len: number, fin = true, masked = true): Uint8Array {
  const h = new Uint8Array(14);
  const dv = new DataView(h.buffer);
  h[0] = (fin ? 0x80 : 0) | op;
  let n = 2;
  if (len < 126) h[1] = len;
  else if (len < 65536) h[1] = 126, dv.setUint16(2, len), n = 4;
  else h[1] = 127, dv.setBigUint64(2, BigInt(len)), n = 10;
  if (masked) h[1] |= 0x80, n += 4; // mask key 00 00 00 00: payload travels as is
  return h.slice(0, n);
}

function rssKiB(pid: number): number {
  return Number(Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+)/)![1]);
}

/** Starts reads on `conns`; returns how many the hub has ended after `ms`. */
async function countEnded(conns: Deno.Conn[], ms: number): Promise<number> {
  let ended = 0;
  const buf = new Uint8Array(64);
  for (const c of conns) {
    c.read(buf).then(() => ended++, () => ended++);
  }
  await new Promise((r) => setTimeout(r, ms));
  return ended;
}

async function withHub(
  opts: Parameters<typeof startHubProcess>[0],
  fn: (hub: HubProcess) => Promise<void>,
): Promise<void> {
  const hub = await startHubProcess(opts);
  try {
    await fn(hub);
  } finally {
    await hub.close("SIGKILL");
  }
}

Deno.test({
  name: "a connection that sends half a request line, nothing, or idles after a response is closed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withHub({ env: { TELAHUBD_HEADER_TIMEOUT_MS: "1000" } }, async (hub) => {
      const half = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
      await half.write(enc.encode("GET /api/sta"));
      const silent = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
      const idle = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
      await idle.write(enc.encode("GET /.well-known/tela HTTP/1.1\r\nHost: x\r\n\r\n"));
      const t0 = performance.now();
      const [a, b, c] = await Promise.all(
        [half, silent, idle].map((conn) => readUntilEnd(conn, 6000)),
      );
      const took = performance.now() - t0;
      assert.ok(a.ended, "half a request line: closed by the hub");
      assert.ok(b.ended, "nothing sent: closed by the hub");
      assert.ok(c.ended, "idle keep-alive connection: closed by the hub");
      assert.match(dec.decode(c.bytes), /^HTTP\/1\.1 200 OK\r\n[\s\S]*"protocolVersion"/);
      assert.ok(took < 5000, `closed after the 1 s deadline, not later (${took | 0} ms)`);
      assert.equal((await getJson(hub, "/.well-known/tela")).status, 200, "still serving");
    });
  },
});

Deno.test({
  name: "over the cap of unauthenticated connections the oldest are shed; others still get in",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withHub({ env: { TELAHUBD_MAX_UNAUTHENTICATED: "16" } }, async (hub) => {
      const token = hub.ownerToken!;
      const agent = await ScriptedAgent.register(hub.url, { machineName: "barn", token });
      const tcp: Deno.Conn[] = [];
      const ws: Deno.Conn[] = [];
      try {
        for (let i = 0; i < 40; i++) {
          tcp.push(await Deno.connect({ hostname: "127.0.0.1", port: hub.port }));
        }
        const tcpEnded = await countEnded(tcp, 1500);
        assert.ok(tcpEnded >= 24, `40 idle TCP connections, cap 16: ${tcpEnded} shed (want ≥ 24)`);
        for (let i = 0; i < 24; i++) ws.push(await rawUpgrade(hub.port));
        const wsEnded = await countEnded(ws, 1500);
        assert.ok(wsEnded >= 8, `24 silent WebSockets, cap 16: ${wsEnded} shed (want ≥ 8)`);
        // A registered agent is not counted, and a new client still gets served.
        assert.equal((await getJson(hub, "/api/status", token)).status, 200);
        const st = await getJson(hub, "/api/status", token);
        const machines = st.body.machines as { id: string; agentConnected: boolean }[];
        assert.deepEqual(machines.map((m) => [m.id, m.agentConnected]), [["barn", true]]);
        assert.match(hub.stderr(), /unauthenticated connections/);
      } finally {
        for (const c of [...tcp, ...ws]) closeQuietly(c);
        await agent.close();
      }
    });
  },
});

Deno.test({
  name: "out of descriptors (limit 256) the hub sheds new connections, logs once, and recovers",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withHub({
      nofile: 256,
      // Neither the cap nor a deadline may free descriptors first: this is about EMFILE.
      env: { TELAHUBD_MAX_UNAUTHENTICATED: "100000", TELAHUBD_HEADER_TIMEOUT_MS: "600000" },
    }, async (hub) => {
      const conns: Deno.Conn[] = [];
      try {
        const deadline = Date.now() + 15_000;
        for (let i = 0; i < 320 && Date.now() < deadline; i++) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const c = await Promise.race([
            Deno.connect({ hostname: "127.0.0.1", port: hub.port }),
            new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), 2000)),
          ]).catch(() => undefined);
          clearTimeout(timer);
          if (c) conns.push(c);
        }
        // Shed, not left in the backlog: connections made while descriptors ran out are
        // accepted and closed at once, so their clients see the end instead of hanging.
        const shed = await countEnded(conns, 1000);
        assert.ok(shed >= 40, `${conns.length} connections, ${shed} ended by the hub (want ≥ 40)`);
        const exited = await Promise.race([
          hub.status.then(() => true),
          new Promise<false>((r) => setTimeout(() => r(false), 500)),
        ]);
        assert.equal(exited, false, `the hub is still running:\n${hub.stderr().slice(-2000)}`);
        const warnings = hub.stderr().match(/descriptor limit reached/g) ?? [];
        assert.equal(warnings.length, 1, `logged once, not per connection:\n${hub.stderr()}`);
      } finally {
        for (const c of conns) closeQuietly(c);
      }
      // Descriptors free up: plain HTTP and WebSockets work again.
      await waitFor(
        () => getJson(hub, "/.well-known/tela").then((r) => r.status === 200, () => false),
        "the hub to serve again",
        10_000,
      );
      const agent = await ScriptedAgent.register(hub.url, {
        machineName: "barn",
        token: hub.ownerToken!,
      });
      await agent.close();
    });
  },
});

Deno.test({
  name: "an unauthenticated WebSocket cannot make the hub buffer a large message",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await withHub({}, async (hub) => {
      await t.step("a 60 MiB message is refused with 1009 from its header", async () => {
        const before = rssKiB(hub.child.pid);
        for (let i = 0; i < 4; i++) {
          const conn = await rawUpgrade(hub.port);
          const reading = readUntilEnd(conn, 5000);
          await conn.write(frameHeader(0x2, 60 << 20));
          const chunk = new Uint8Array(256 * 1024);
          // Up to 8 MiB of the payload, until the hub stops taking it.
          for (let k = 0; k < 32; k++) {
            if (!await conn.write(chunk).then(() => true, () => false)) break;
          }
          const r = await reading;
          assert.ok(r.ended, "the hub ends the connection");
          assert.equal(closeCode(r.bytes), 1009, "Close 1009 (message too big)");
        }
        const grew = rssKiB(hub.child.pid) - before;
        assert.ok(grew < 16 * 1024, `hub RSS grew ${grew} KiB for 4 × 60 MiB announced`);
      });

      await t.step("fragments add up: 2 × 120 KiB of one text message → 1009", async () => {
        const conn = await rawUpgrade(hub.port);
        const reading = readUntilEnd(conn, 5000);
        const part = new Uint8Array(120 * 1024).fill(0x20);
        await conn.write(frameHeader(0x1, part.length, false));
        await conn.write(part);
        await conn.write(frameHeader(0x0, part.length, true)).catch(() => {});
        await conn.write(part).catch(() => {});
        const r = await reading;
        assert.ok(r.ended);
        assert.equal(closeCode(r.bytes), 1009);
      });

      await t.step("a request head over 16 KiB → 431", async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
        const reading = readUntilEnd(conn, 5000);
        await conn.write(enc.encode(
          `GET /.well-known/tela HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(32 * 1024)}\r\n\r\n`,
        )).catch(() => {});
        const r = await reading;
        assert.ok(r.ended);
        assert.match(dec.decode(r.bytes), /^HTTP\/1\.1 431 /);
      });

      await t.step("a body announced over 256 KiB → 413 before it is sent", async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
        const reading = readUntilEnd(conn, 5000);
        await conn.write(enc.encode(
          "POST /api/pair HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n",
        ));
        const r = await reading;
        assert.ok(r.ended);
        assert.match(dec.decode(r.bytes), /^HTTP\/1\.1 413 /);
      });

      await t.step("a chunked body past 256 KiB → 413", async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
        const reading = readUntilEnd(conn, 5000);
        await conn.write(enc.encode(
          "POST /api/pair HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        ));
        const chunk = enc.encode(`40000\r\n${"x".repeat(0x40000)}\r\n`);
        for (let k = 0; k < 8; k++) {
          if (!await conn.write(chunk).then(() => true, () => false)) break;
        }
        const r = await reading;
        assert.ok(r.ended);
        assert.match(dec.decode(r.bytes), /^HTTP\/1\.1 413 /);
      });

      assert.equal((await getJson(hub, "/.well-known/tela")).status, 200, "still serving");
    });
  },
});

Deno.test({
  name: "an unmasked client frame is closed with 1002 (RFC 6455 §5.1)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withHub({}, async (hub) => {
      const conn = await rawUpgrade(hub.port);
      const reading = readUntilEnd(conn, 5000);
      const text = enc.encode('{"type":"hello"}');
      await conn.write(frameHeader(0x1, text.length, true, false));
      await conn.write(text);
      const r = await reading;
      assert.ok(r.ended, "the hub ends the connection");
      assert.equal(closeCode(r.bytes), 1002);
      // The same message masked is accepted (ignored as an unknown type).
      const ok = await rawUpgrade(hub.port);
      const okReading = readUntilEnd(ok, 1500);
      await ok.write(frameHeader(0x1, text.length));
      await ok.write(text);
      assert.equal((await okReading).ended, false, "a masked frame keeps the connection open");
    });
  },
});
