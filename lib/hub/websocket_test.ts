/**
 * The front end's RFC 6455 server, in process over loopback with raw bytes: an echo
 * handler behind {@link startFrontEnd}.
 */
import assert from "node:assert/strict";
import { type FrontEnd, startFrontEnd } from "./front_end.ts";
import {
  type HubCloseEvent,
  MAX_FRAGMENTS,
  PONG_BUFFER_LIMIT,
  type ServerWebSocket,
} from "./websocket.ts";

const enc = new TextEncoder();

/** A client frame, masked with a non-zero key (RFC 6455 §5.3). */
function clientFrame(op: number, payload: Uint8Array, fin = true, rsv = 0): Uint8Array {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + ext + 4 + len);
  const dv = new DataView(out.buffer);
  out[0] = (fin ? 0x80 : 0) | rsv | op;
  out[1] = 0x80 | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) dv.setUint16(2, len);
  if (ext === 8) dv.setBigUint64(2, BigInt(len));
  const key = [0x37, 0xfa, 0x21, 0x3d];
  out.set(key, 2 + ext);
  for (let i = 0; i < len; i++) out[2 + ext + 4 + i] = payload[i] ^ key[i & 3];
  return out;
}

interface Frame {
  fin: boolean;
  op: number;
  payload: Uint8Array;
}

/** Reads server frames (unmasked) from a raw connection. */
class FrameReader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk).catch(() => null);
    if (n === null) return false;
    const b = new Uint8Array(this.#buf.length + n);
    b.set(this.#buf);
    b.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = b;
    return true;
  }

  /** The next frame, or null at end of connection. */
  async next(): Promise<Frame | null> {
    for (let i = 0; i < 1000; i++) {
      const b = this.#buf;
      if (b.length >= 2) {
        assert.equal(b[1] & 0x80, 0, "server frames are not masked");
        let len = b[1] & 0x7f;
        let h = 2;
        const dv = new DataView(b.buffer, b.byteOffset);
        if (len === 126 && b.length >= 4) len = dv.getUint16(2), h = 4;
        else if (len === 127 && b.length >= 10) len = Number(dv.getBigUint64(2)), h = 10;
        if (len < 126 || h > 2) {
          if (b.length >= h + len) {
            this.#buf = b.slice(h + len);
            return { fin: (b[0] & 0x80) !== 0, op: b[0] & 0x0f, payload: b.slice(h, h + len) };
          }
        }
      }
      if (!await this.#fill()) return null;
    }
    throw new Error("no frame after 1000 reads");
  }

  /** Reads until the connection ends; returns the Close frame's code, if one came. */
  async closeCode(): Promise<number | undefined> {
    for (let i = 0; i < 100; i++) {
      const f = await this.next();
      if (!f) return undefined;
      if (f.op === 0x8) return (f.payload[0] << 8) | f.payload[1];
    }
  }
}

async function withEcho(
  fn: (fe: FrontEnd, closes: HubCloseEvent[]) => Promise<void>,
  idleTimeout = 60,
): Promise<void> {
  const closes: HubCloseEvent[] = [];
  const fe: FrontEnd = startFrontEnd({
    hostname: "127.0.0.1",
    port: 0,
    handler: (req) => {
      if (req.headers.get("upgrade") === "websocket") {
        const { socket, response } = fe.upgradeWebSocket(req, { idleTimeout });
        socket.onmessage = (ev) => socket.send(ev.data);
        socket.onclose = (ev) => closes.push(ev);
        return response;
      }
      const body = req.method === "HEAD" ? null : `${req.method} ${new URL(req.url).pathname}`;
      return new Response(body, { status: 200 });
    },
  });
  try {
    await fn(fe, closes);
  } finally {
    await fe.shutdown(500);
  }
}

async function open(fe: FrontEnd): Promise<{ conn: Deno.Conn; frames: FrameReader }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: fe.addr.port });
  await conn.write(enc.encode(
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  let head = "";
  const one = new Uint8Array(1);
  for (let i = 0; i < 4096 && !head.endsWith("\r\n\r\n"); i++) {
    assert.ok(await conn.read(one), "upgrade answered");
    head += String.fromCharCode(one[0]);
  }
  // RFC 6455 §1.3's own example key and accept value.
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
  return { conn, frames: new FrameReader(conn) };
}

Deno.test("fragmented messages arrive whole, with a ping between fragments; 16/64-bit lengths", async () => {
  await withEcho(async (fe) => {
    const { conn, frames } = await open(fe);
    try {
      await conn.write(clientFrame(0x1, enc.encode("hel"), false));
      await conn.write(clientFrame(0x9, enc.encode("p!")));
      await conn.write(clientFrame(0x0, enc.encode("lo "), false));
      await conn.write(clientFrame(0x0, enc.encode("wörld"), true));
      assert.deepEqual(await frames.next(), { fin: true, op: 0xa, payload: enc.encode("p!") });
      assert.deepEqual(await frames.next(), {
        fin: true,
        op: 0x1,
        payload: enc.encode("hello wörld"),
      });
      for (const len of [125, 126, 300, 65535, 65536, 70_000]) {
        const data = new Uint8Array(len).map((_, i) => (i * 7 + len) & 0xff);
        await conn.write(clientFrame(0x2, data));
        const f = await frames.next();
        assert.equal(f?.op, 0x2);
        assert.deepEqual(f?.payload, data, `binary of ${len} bytes echoed byte-exact`);
      }
    } finally {
      conn.close();
    }
  });
});

Deno.test("frames back to back unmask byte-exact at every alignment of the read buffer", async () => {
  await withEcho(async (fe) => {
    const { conn, frames } = await open(fe);
    try {
      // Lengths around the 64-octet word path and up to a 16 KiB tunnel packet; written in
      // one go, so each body starts at a different offset (mod 4) of the hub's read buffer.
      const lens = [63, 64, 65, 66, 67, 129, 1139, 1140, 1141, 16423, 16424, 16425, 16426];
      const sent = lens.map((len) => new Uint8Array(len).map((_, i) => (i * 31 + len) & 0xff));
      const wire: Uint8Array[] = [];
      for (const [k, data] of sent.entries()) {
        if (k % 3 === 2) {
          // Fragmented: the in-place unmask path.
          const cut = data.length >> 1;
          wire.push(clientFrame(0x2, data.subarray(0, cut), false));
          wire.push(clientFrame(0x0, data.subarray(cut), true));
        } else {
          wire.push(clientFrame(0x2, data));
        }
      }
      const all = new Uint8Array(wire.reduce((n, w) => n + w.length, 0));
      let o = 0;
      for (const w of wire) all.set(w, (o += w.length) - w.length);
      for (let off = 0; off < all.length;) off += await conn.write(all.subarray(off));
      for (const data of sent) {
        const f = await frames.next();
        assert.equal(f?.op, 0x2);
        assert.deepEqual(f?.payload, data, `binary of ${data.length} bytes echoed byte-exact`);
      }
    } finally {
      conn.close();
    }
  });
});

Deno.test("the peer's Close is echoed with its code and the connection ends cleanly", async () => {
  await withEcho(async (fe, closes) => {
    const { conn, frames } = await open(fe);
    await conn.write(clientFrame(0x8, new Uint8Array([0x03, 0xe8, ...enc.encode("bye")])));
    const f = await frames.next();
    assert.deepEqual(f, {
      fin: true,
      op: 0x8,
      payload: new Uint8Array([0x03, 0xe8, 98, 121, 101]),
    });
    assert.equal(await frames.next(), null, "then the hub ends the TCP connection");
    conn.close();
    assert.deepEqual(closes, [{ code: 1000, reason: "bye", wasClean: true }]);
  });
});

Deno.test("protocol violations close with 1002, invalid UTF-8 with 1007 (RFC 6455 §5, §8.1)", async () => {
  await withEcho(async (fe) => {
    const cases: [string, Uint8Array, number][] = [
      ["reserved bit set", clientFrame(0x1, enc.encode("x"), true, 0x40), 1002],
      ["unknown opcode 3", clientFrame(0x3, enc.encode("x")), 1002],
      ["fragmented ping", clientFrame(0x9, enc.encode("x"), false), 1002],
      ["ping over 125 bytes", clientFrame(0x9, new Uint8Array(126)), 1002],
      ["continuation without a start", clientFrame(0x0, enc.encode("x")), 1002],
      ["close with a 1-byte body", clientFrame(0x8, new Uint8Array([3])), 1002],
      ["close code 1005 on the wire", clientFrame(0x8, new Uint8Array([0x03, 0xed])), 1002],
      ["invalid UTF-8 text", clientFrame(0x1, new Uint8Array([0xc3, 0x28])), 1007],
    ];
    for (const [what, bytes, code] of cases) {
      const { conn, frames } = await open(fe);
      await conn.write(bytes);
      assert.equal(await frames.closeCode(), code, what);
      conn.close();
    }
    const { conn, frames } = await open(fe);
    await conn.write(clientFrame(0x1, enc.encode("a"), false));
    await conn.write(clientFrame(0x1, enc.encode("b")));
    assert.equal(await frames.closeCode(), 1002, "a new message inside a fragmented one");
    conn.close();
  });
});

Deno.test("a silent WebSocket is pinged after half the idle timeout and dropped without a pong", async () => {
  await withEcho(async (fe, closes) => {
    const quiet = await open(fe);
    const answering = await open(fe);
    const t0 = performance.now();
    // The answering peer replies to every ping; the quiet one never does.
    const pongs = (async () => {
      for (let i = 0; i < 20; i++) {
        const f = await answering.frames.next();
        if (!f) return;
        if (f.op === 0x9) await answering.conn.write(clientFrame(0xa, f.payload));
      }
    })();
    const ping = await quiet.frames.next();
    assert.equal(ping?.op, 0x9, "a ping");
    const pingedAfter = performance.now() - t0;
    assert.ok(pingedAfter >= 900 && pingedAfter < 3000, `pinged after ${pingedAfter | 0} ms`);
    assert.equal(await quiet.frames.closeCode(), 1001, "then closed");
    assert.ok(performance.now() - t0 < 5000);
    assert.equal(closes.length, 1, "only the quiet one closed");
    answering.conn.close();
    quiet.conn.close();
    await pongs;
  }, 2);
});

/** A front end whose one WebSocket handler hands the server socket to the test. */
function captureFrontEnd(
  onSocket: (ws: ServerWebSocket) => void,
): FrontEnd {
  const fe: FrontEnd = startFrontEnd({
    hostname: "127.0.0.1",
    port: 0,
    handler: (req) => {
      const { socket, response } = fe.upgradeWebSocket(req, { idleTimeout: 60 });
      onSocket(socket);
      return response;
    },
  });
  return fe;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("a peer that sends 32 MiB of pings and never reads gets at most 64 KiB of pongs queued", async () => {
  let ws: ServerWebSocket | undefined;
  let done = false;
  const fe = captureFrontEnd((s) => {
    ws = s;
    s.onmessage = () => done = true;
  });
  const { conn } = await open(fe);
  try {
    const ping = clientFrame(0x9, new Uint8Array(125).fill(0x70));
    const batch = new Uint8Array(ping.length * 8192); // about 1 MiB of pings per write
    for (let i = 0; i < 8192; i++) batch.set(ping, i * ping.length);
    for (let k = 0; k < 32; k++) {
      for (let off = 0; off < batch.length;) off += await conn.write(batch.subarray(off));
    }
    await conn.write(clientFrame(0x1, enc.encode("done")));
    await until(() => done, "the hub to read every ping");
    assert.ok(
      ws!.bufferedAmount <= PONG_BUFFER_LIMIT + 256,
      `pongs queued for a peer that does not read: ${ws!.bufferedAmount} bytes`,
    );
  } finally {
    conn.close();
    await fe.shutdown(500);
  }
});

Deno.test("a peer that does not read is closed with 1008 once 8 MiB are queued for it", async () => {
  let closed: HubCloseEvent | undefined;
  const fe = captureFrontEnd((s) => {
    s.onmessage = () => {
      const chunk = new Uint8Array(64 * 1024);
      for (let i = 0; i < 200 && s.readyState === 1; i++) s.send(chunk); // 12.5 MiB
    };
    s.onclose = (ev) => closed = ev;
  });
  const { conn } = await open(fe);
  try {
    await conn.write(clientFrame(0x1, enc.encode("flood me")));
    await until(() => closed !== undefined, "the hub to close the socket");
    assert.equal(closed!.code, 1008);
    assert.match(closed!.reason, /peer does not read/);
  } finally {
    conn.close();
    await fe.shutdown(500);
  }
});

Deno.test("a message in more than MAX_FRAGMENTS fragments, empty ones included, is closed with 1009", async () => {
  await withEcho(async (fe) => {
    const { conn, frames } = await open(fe);
    const empty = clientFrame(0x0, new Uint8Array(0), false);
    const burst = new Uint8Array(empty.length * (MAX_FRAGMENTS + 1));
    for (let i = 0; i <= MAX_FRAGMENTS; i++) burst.set(empty, i * empty.length);
    await conn.write(clientFrame(0x2, new Uint8Array(0), false));
    await conn.write(burst);
    assert.equal(await frames.closeCode(), 1009);
    conn.close();
  });
});

Deno.test("close codes 1012-1014 of the IANA registry are accepted; a text's BOM is kept", async () => {
  await withEcho(async (fe, closes) => {
    const { conn, frames } = await open(fe);
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69]);
    await conn.write(clientFrame(0x1, bom));
    assert.deepEqual((await frames.next())?.payload, bom, "echoed with its U+FEFF");
    await conn.write(clientFrame(0x8, new Uint8Array([0x03, 0xf4]))); // 1012 service restart
    assert.equal(await frames.closeCode(), 1012);
    conn.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closes.at(-1)?.code, 1012);
  });
});
