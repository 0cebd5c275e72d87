/**
 * The path gateway's HTTP/1.1 handling against raw loopback backends that record every byte
 * they receive (review findings on request smuggling, abandoned requests, RFC 9112 details).
 * A real PathGateway on loopback TCP; each test stops what it started.
 */
import assert from "node:assert/strict";
import {
  answerAfterHead,
  client,
  exchange,
  rawBackend,
  sleep,
  startGateway,
  waitFor,
} from "./_loopback.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const SMUGGLED = "GET /internal HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n";

Deno.test({
  ...opts,
  name: "Connection cannot remove Content-Length or Host; framing fields rebuilt (finding 1)",
  async fn() {
    const be = rawBackend(answerAfterHead(OK));
    const gw = startGateway([{ path: "/api/", target: be.port }]);
    try {
      for (
        const extra of [
          "Connection: Content-Length, Host",
          "Connection: Upgrade, Content-Length\r\nUpgrade: websocket",
        ]
      ) {
        const n = be.conns.length;
        await exchange(
          gw.port,
          `POST /api/public HTTP/1.1\r\nHost: x\r\n${extra}\r\n` +
            `Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
          800,
        );
        assert.ok(await waitFor(() => be.conns.length > n && be.conns[n].data.includes(SMUGGLED)));
        const data = be.conns[n].data;
        assert.match(data, new RegExp(`\r\nContent-Length: ${SMUGGLED.length}\r\n`), data);
        assert.match(data, /\r\nHost: x\r\n/, data);
      }
      // `Content-Length: 5, 5` (and duplicates) leave as one Content-Length: 5.
      const n = be.conns.length;
      await exchange(
        gw.port,
        "POST /api/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n\r\nhello",
        800,
      );
      await waitFor(() => be.conns[n]?.data.endsWith("hello"));
      const data = be.conns[n].data;
      assert.deepEqual(data.match(/content-length[^\r]*/gi), ["Content-Length: 5"], data);
    } finally {
      await gw.close();
      await be.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "response framing fields rebuilt: Connection: Content-Length, TE with CL, HEAD (finding 1)",
  async fn() {
    const answers: Record<string, string> = {
      "/conn-cl": "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok",
      "/te-cl":
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      "/head": "HTTP/1.1 200 OK\r\nContent-Length: 1234, 1234\r\n\r\n",
      "/dup": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    };
    const be = rawBackend((c, got, rec) => {
      const m = /^[A-Z]+ (\S+)/.exec(got);
      if (m && got.includes("\r\n\r\n") && !(rec as { a?: boolean }).a) {
        (rec as { a?: boolean }).a = true;
        c.write(new TextEncoder().encode(answers[m[1]])).catch(() => {});
      }
    });
    const gw = startGateway([{ path: "/", target: be.port }]);
    try {
      const get = async (method: string, path: string) => {
        const c = await client(gw.port);
        await c.send(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        await c.until(() => false, 3000);
        await c.close();
        return c.state.text;
      };
      let out = await get("GET", "/conn-cl");
      assert.match(out, /\r\nContent-Length: 2\r\n/, out);
      assert.ok(out.endsWith("\r\n\r\nok"), out);
      out = await get("GET", "/te-cl");
      assert.doesNotMatch(out, /content-length/i, out);
      assert.match(out, /\r\nTransfer-Encoding: chunked\r\n/, out);
      out = await get("HEAD", "/head");
      assert.deepEqual(out.match(/content-length[^\r]*/gi), ["Content-Length: 1234"], out);
      out = await get("GET", "/dup");
      assert.deepEqual(out.match(/content-length[^\r]*/gi), ["Content-Length: 2"], out);
    } finally {
      await gw.close();
      await be.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "a trailer section ended by a bare LF does not smuggle a request (finding 2)",
  async fn() {
    const be = rawBackend(answerAfterHead(OK));
    const gw = startGateway([{ path: "/api/", target: be.port }]);
    try {
      for (const extra of ["", "Connection: Upgrade\r\nUpgrade: websocket\r\n"]) {
        const n = be.conns.length;
        await exchange(
          gw.port,
          `POST /api/public HTTP/1.1\r\nHost: x\r\n${extra}Transfer-Encoding: chunked\r\n\r\n` +
            `3\r\nabc\r\n0\r\n\n${SMUGGLED}`,
          800,
        );
        assert.ok(await waitFor(() => be.conns.length > n && be.conns[n].data.includes("abc")));
        await waitFor(() => be.conns[n].data.includes("/internal"), 300);
        assert.doesNotMatch(be.conns[n].data, /GET \/internal/, be.conns[n].data);
      }
    } finally {
      await gw.close();
      await be.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "an abandoned or malformed request releases the backend connection (finding 3)",
  async fn() {
    const be = rawBackend(); // never answers
    const gw = startGateway([{ path: "/", target: be.port }]);
    try {
      // (a) 1000 body bytes announced, 10 sent, then the client leaves.
      const a = await client(gw.port);
      await a.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789");
      assert.ok(await waitFor(() => be.conns[0]?.data.endsWith("0123456789")));
      await a.close();
      assert.ok(await waitFor(() => !be.conns[0].open), "(a) backend connection closed");
      // (b) a malformed chunk-size line: the client gets the 400, the backend connection ends.
      const b = await client(gw.port);
      await b.send(
        "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
      );
      const out = await b.until((t) => t.includes("\r\n\r\n"));
      assert.match(out, /^HTTP\/1\.1 400 /, out);
      assert.match(out, /\r\nConnection: close\r\n/i, out);
      assert.ok(await waitFor(() => b.state.eof), "(b) client connection closed");
      assert.ok(await waitFor(() => be.conns.length === 2 && !be.conns[1].open), "(b) backend");
      await b.close();
      // (c) a GET without body; the client leaves before the backend answers.
      const c = await client(gw.port);
      await c.send("GET /longpoll HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.ok(await waitFor(() => be.conns[2]?.data.includes("\r\n\r\n")));
      await c.close();
      assert.ok(await waitFor(() => !be.conns[2].open), "(c) backend connection closed");
    } finally {
      await gw.close();
      await be.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "an unparsable backend Content-Length: 502 and a log line, not a reset (finding 6)",
  async fn() {
    const be = rawBackend(
      answerAfterHead("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello"),
    );
    const gw = startGateway([{ path: "/", target: be.port }]);
    try {
      for (const method of ["GET", "HEAD"]) {
        const out = await exchange(gw.port, `${method} / HTTP/1.1\r\nHost: x\r\n\r\n`, 2000);
        assert.match(out, /^HTTP\/1\.1 502 /, out);
        assert.match(out, /Content-Length is not one decimal length/, out);
      }
      assert.ok(
        gw.logs.some((l) =>
          l.includes(`[gateway] http: proxy error: 127.0.0.1:${be.port}: upstream response: `)
        ),
        gw.logs.join("\n"),
      );
    } finally {
      await gw.close();
      await be.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "RFC 9112 details: interim responses, HTTP/1.0 keep-alive, Host checks (finding 7)",
  async fn() {
    const be = rawBackend((c, got, rec) => {
      const r = rec as typeof rec & { n?: number };
      const heads = got.split("\r\n\r\n").length - 1;
      while ((r.n ?? 0) < heads) {
        r.n = (r.n ?? 0) + 1;
        c.write(new TextEncoder().encode(
          "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: X-Hop\r\n" +
            "X-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n" + OK,
        )).catch(() => {});
      }
    });
    const gw = startGateway([{ path: "/", target: be.port }]);
    try {
      // HTTP/1.1: the interim response passes, without its hop-by-hop fields.
      let out = await exchange(gw.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      assert.match(
        out,
        /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/s\.css>; rel=preload\r\n\r\n/,
        out,
      );
      assert.doesNotMatch(out, /x-hop|keep-alive/i, out);
      // HTTP/1.0 with keep-alive: no interim response, `Connection: keep-alive`, stays open.
      const c = await client(gw.port);
      await c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      out = await c.until((t) => t.endsWith("ok"));
      assert.match(out, /^HTTP\/1\.1 200 OK\r\n/, out);
      assert.match(out, /\r\nConnection: keep-alive\r\n/i, out);
      await c.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      out = await c.until((t) => t.split("ok").length === 3);
      assert.equal(out.split("HTTP/1.1 200 OK").length, 3, out);
      assert.equal(c.state.eof, false, "the HTTP/1.0 keep-alive connection stays open");
      await c.close();
      // Host: missing in HTTP/1.1, or twice: 400, nothing sent upstream.
      const before = be.conns.length;
      for (
        const req of [
          "GET / HTTP/1.1\r\n\r\n",
          "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
          "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",
        ]
      ) {
        out = await exchange(gw.port, req);
        assert.match(out, /^HTTP\/1\.1 400 /, JSON.stringify(req) + out);
      }
      assert.equal(be.conns.length, before, "no upstream connection for a refused Host");
    } finally {
      await gw.close();
      await be.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "an upgrade request with a body: the 101 relay starts after the body (finding 9)",
  async fn() {
    const be = rawBackend(
      answerAfterHead(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n",
      ),
    );
    const gw = startGateway([{ path: "/", target: be.port }]);
    try {
      const c = await client(gw.port);
      await c.send(
        "POST /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: x\r\n" +
          "Content-Length: 10\r\n\r\n01234",
      );
      assert.ok(await waitFor(() => be.conns[0]?.data.endsWith("01234")));
      // The upstream already answered 101; the client must not see it before its body is done.
      await sleep(300);
      assert.equal(c.state.text, "", "no 101 while the request body is incomplete");
      await c.send("56789TAIL");
      const out = await c.until((t) => t.includes("\r\n\r\n"));
      assert.match(out, /^HTTP\/1\.1 101 /, out);
      assert.ok(await waitFor(() => be.conns[0].data.endsWith("0123456789TAIL")));
      await c.close();
    } finally {
      await gw.close();
      await be.close();
    }
  },
});
