/**
 * The front end's HTTP/1.1 side, in process over loopback with raw bytes: ordering,
 * HEAD, 100-continue, and the deadlines a slow peer cannot push back.
 */
import assert from "node:assert/strict";
import { type FrontEnd, type FrontEndOptions, startFrontEnd } from "./front_end.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function withEcho(
  fn: (fe: FrontEnd) => Promise<void>,
  opts: Partial<FrontEndOptions> = {},
): Promise<void> {
  const fe = startFrontEnd({
    hostname: "127.0.0.1",
    port: 0,
    handler: (req) => {
      const body = req.method === "HEAD" ? null : `${req.method} ${new URL(req.url).pathname}`;
      return new Response(body, { status: 200 });
    },
    ...opts,
  });
  try {
    await fn(fe);
  } finally {
    await fe.shutdown(500);
  }
}

/** Reads until the server ends the connection (or `timeoutMs`); the text and when it ended. */
async function readAll(conn: Deno.Conn, timeoutMs: number): Promise<{ text: string; ms: number }> {
  const t0 = performance.now();
  const timer = setTimeout(() => conn.close(), timeoutMs);
  let text = "";
  const buf = new Uint8Array(4096);
  try {
    for (let i = 0; i < 1000; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
    }
  } catch { /* closed by the timer */ }
  clearTimeout(timer);
  return { text, ms: performance.now() - t0 };
}

Deno.test("HTTP/1.1: pipelined requests answered in order; HEAD without body; 100-continue", async () => {
  await withEcho(async (fe) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: fe.addr.port });
    const buf = new Uint8Array(4096);
    let got = "";
    const readUntil = async (what: RegExp) => {
      for (let i = 0; i < 100 && !what.test(got); i++) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        got += dec.decode(buf.subarray(0, n));
      }
    };
    await conn.write(enc.encode(
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n" +
        "POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n" +
        "Connection: close\r\n\r\n",
    ));
    await readUntil(/100 Continue\r\n\r\n/);
    await conn.write(enc.encode("hi"));
    await readUntil(/POST \/c$/);
    assert.equal(await conn.read(buf).catch(() => null), null, "Connection: close honoured");
    conn.close();
    const statuses = [...got.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ["200", "200", "100", "200"]);
    assert.match(got, /content-length: 6\r\n[^]*\r\n\r\nGET \/a/);
    assert.match(got, /\r\n\r\nHTTP\/1\.1 100 Continue\r\n\r\n/, "HEAD: no body");
    const headResponse = got.split("GET /a")[1].split("HTTP/1.1 100")[0];
    assert.doesNotMatch(headResponse, /content-length/, "HEAD: no length the handler did not give");
    assert.match(got, /connection: close\r\n\r\nPOST \/c$/);
  });
});

Deno.test("a pipelined request whose body never comes is closed at the body deadline", async () => {
  await withEcho(async (fe) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: fe.addr.port });
    await conn.write(enc.encode(
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
    ));
    const r = await readAll(conn, 5000);
    try {
      conn.close();
    } catch { /* closed */ }
    assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n[^]*GET \/a$/, "the first is answered");
    assert.ok(r.ms < 3000, `then closed at the 500 ms body deadline (${r.ms | 0} ms)`);
  }, { bodyTimeoutMs: 500, headerTimeoutMs: 60_000 });
});

Deno.test("a head sent a byte at a time does not push its deadline back", async () => {
  await withEcho(async (fe) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: fe.addr.port });
    const t0 = performance.now();
    const head = enc.encode("GET /slow HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaa\r\n");
    let closedAt = 0;
    for (let i = 0; i < head.length && performance.now() - t0 < 5000; i++) {
      const ok = await conn.write(head.subarray(i, i + 1)).then(() => true, () => false);
      if (!ok) {
        closedAt = performance.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!closedAt) {
      const r = await readAll(conn, 5000);
      closedAt = performance.now() - t0;
      assert.equal(r.text, "", "no response to a head that never completed");
    }
    try {
      conn.close();
    } catch { /* closed */ }
    assert.ok(closedAt < 3000, `closed near the 1 s head deadline (${closedAt | 0} ms)`);
  }, { headerTimeoutMs: 1000 });
});

Deno.test("a peer that does not read a large response counts against the unauthenticated cap", async () => {
  const big = new Uint8Array(32 * 1024 * 1024);
  await withEcho(async (fe) => {
    const reader = await Deno.connect({ hostname: "127.0.0.1", port: fe.addr.port });
    await reader.write(enc.encode("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
    // Let the hub fill the socket buffers and block writing the rest of the 32 MiB.
    for (let i = 0; i < 100 && fe.pendingCount === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    const newcomer = await Deno.connect({ hostname: "127.0.0.1", port: fe.addr.port });
    try {
      // The cap is 1: the newcomer sheds the oldest, the peer that stopped reading.
      let bytes = 0;
      const t0 = performance.now();
      const buf = new Uint8Array(1 << 20);
      const timer = setTimeout(() => reader.close(), 3000);
      let ended = false;
      try {
        for (let i = 0; i < 10_000; i++) {
          const n = await reader.read(buf);
          if (n === null) {
            ended = true;
            break;
          }
          bytes += n;
        }
      } catch {
        ended = performance.now() - t0 < 3000; // reset by the hub, not closed by the timer
      }
      clearTimeout(timer);
      assert.ok(ended, `the non-reading peer was shed (${bytes} bytes read)`);
      assert.ok(bytes < big.length, `and did not get the whole body (${bytes} bytes)`);
    } finally {
      newcomer.close();
      try {
        reader.close();
      } catch { /* closed */ }
    }
  }, { maxUnauthenticated: 1, handler: () => new Response(big) });
});

Deno.test("a handler that throws gets the request a 500 and the log its stack, on one line", async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    await withEcho(async (fe) => {
      const r = await fetch(`http://127.0.0.1:${fe.addr.port}/boom%0Aforged`);
      assert.equal(r.status, 500);
      assert.equal(await r.text(), "Internal Server Error\n");
      const again = await fetch(`http://127.0.0.1:${fe.addr.port}/boom`);
      assert.equal(again.status, 500, "the front end keeps serving");
      await again.body?.cancel();
    }, {
      handler: () => {
        throw new TypeError("kaboom");
      },
    });
  } finally {
    console.error = original;
  }
  const logged = lines.filter((l) => l.includes("kaboom"));
  assert.equal(logged.length, 2, lines.join("\n"));
  assert.match(logged[0], /\[hub\] ERROR: GET \/boom%0Aforged: TypeError: kaboom\\n {4}at /);
  assert.ok(!logged[0].includes("\n"), "one line");
});

/** One exchange on a fresh connection: writes each part (waiting `gapMs` between), reads to the end. */
async function exchange(port: number, parts: string[], gapMs = 0): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  for (const p of parts) {
    await conn.write(enc.encode(p));
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  return (await readAll(conn, 3_000)).text;
}

Deno.test("a request body arriving in several reads reaches the handler intact", async () => {
  await withEcho(async (fe) => {
    const head = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\nConnection: close\r\n\r\n";
    const text = await exchange(fe.addr.port, [head, "AAAAA", "BBBBB", "CCCCC"], 100);
    assert.match(text, /\r\n\r\nAAAAABBBBBCCCCC$/);
  }, {
    handler: async (req) => new Response(new Uint8Array(await req.arrayBuffer())),
  });
});

Deno.test("a negative chunk size is refused with 400 and the hub keeps serving", async () => {
  await withEcho(async (fe) => {
    const bad = await exchange(fe.addr.port, [
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nXY",
    ]);
    assert.match(bad, /^HTTP\/1\.1 400 /);
    const ok = await exchange(fe.addr.port, [
      "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ]);
    assert.match(ok, /GET \/ok$/);
  });
});

Deno.test("ambiguous framing is refused with 400 and nothing hidden in it is served (RFC 9112 §6)", async () => {
  const hidden = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const cases: Record<string, string> = {
    "Transfer-Encoding with Content-Length":
      `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
    "Transfer-Encoding: identity":
      `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n${hidden}`,
    "two Transfer-Encodings":
      `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n${hidden}`,
    "space before the colon":
      `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length : ${hidden.length}\r\n\r\n${hidden}`,
    "Content-Length not digits":
      `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\n${hidden}`,
    "obsolete line folding": `GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n${hidden}`,
  };
  await withEcho(async (fe) => {
    for (const [what, raw] of Object.entries(cases)) {
      const text = await exchange(fe.addr.port, [raw]);
      assert.match(text, /^HTTP\/1\.1 400 /, what);
      assert.doesNotMatch(text, /smuggled/, `${what}: the hidden request was not served`);
      assert.doesNotMatch(text, /POST \/a|GET \/a/, `${what}: the handler never saw it`);
    }
  });
});

Deno.test("a bad request pipelined after a good one: the good one is answered first", async () => {
  await withEcho(async (fe) => {
    const text = await exchange(fe.addr.port, [
      "GET /first HTTP/1.1\r\nHost: x\r\n\r\nPOST /big HTTP/1.1\r\nHost: x\r\n" +
      "Content-Length: 1000000000\r\n\r\n",
    ]);
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ["200", "413"]);
    assert.match(text, /GET \/first/);
  });
});
