import assert from "node:assert/strict";
import {
  ByteReader,
  copyBody,
  HttpError,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
  TruncatedMessageError,
} from "./http.ts";
import { matchRoute, sortRoutes } from "./gateway.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A reader over `parts`, each arriving as its own chunk (splits fall where they fall). */
function readerOf(...parts: string[]): ByteReader {
  return new ByteReader(
    new ReadableStream({
      start(c) {
        for (const p of parts) c.enqueue(enc.encode(p));
        c.close();
      },
    }),
  );
}

function sink(): { writer: WritableStreamDefaultWriter<Uint8Array>; text: () => string } {
  let out = "";
  const writer = new WritableStream<Uint8Array>({
    write(b) {
      out += dec.decode(b, { stream: true });
    },
  }).getWriter();
  return { writer, text: () => out };
}

Deno.test("readHead: a head split across reads, leading empty lines skipped, rest kept", async () => {
  const r = readerOf("\r\nGET /a HT", "TP/1.1\r\nHost: x\r", "\n\r\nGET /b HTTP/1.1\r\n\r\n");
  const h1 = parseRequestHead((await r.readHead(1024))!);
  assert.deepEqual(h1, { method: "GET", target: "/a", minor: 1, fields: [["Host", "x"]] });
  const h2 = parseRequestHead((await r.readHead(1024))!);
  assert.equal(h2.target, "/b");
  assert.equal(await r.readHead(1024), null, "clean end between requests");
});

Deno.test("readHead: bounded (431) and truncated", async () => {
  await assert.rejects(
    readerOf("GET / HTTP/1.1\r\nX: " + "a".repeat(200)).readHead(100),
    (e) => e instanceof HttpError && e.status === 431,
  );
  await assert.rejects(readerOf("GET / HTTP/1.1\r\n").readHead(100), TruncatedMessageError);
});

Deno.test("parseRequestHead refuses what a proxy and its upstream could read differently", () => {
  const bad = (head: string, status = 400) =>
    assert.throws(
      () => parseRequestHead(enc.encode(head + "\r\n\r\n")),
      (e) => e instanceof HttpError && e.status === status,
      head,
    );
  bad("GET /a HTTP/1.1\r\nHost : x"); // whitespace before the colon
  bad("GET /a HTTP/1.1\r\nHost: x\r\n folded"); // obs-fold
  bad("GET /a HTTP/1.1\r\nno colon here");
  bad("GET /a HTTP/1.1\r\nX: a\nY: b"); // bare LF
  bad("GET /a b HTTP/1.1");
  bad("GET /a HTTP/2.0", 505);
  const h = parseRequestHead(enc.encode("PROPFIND /dav HTTP/1.0\r\nX-A:  v  \r\n\r\n"));
  assert.deepEqual(h, { method: "PROPFIND", target: "/dav", minor: 0, fields: [["X-A", "v"]] });
});

Deno.test("request framing: chunked, length, none; ambiguous framing refused", () => {
  const f = (fields: [string, string][]) =>
    requestFraming({ method: "POST", target: "/", minor: 1, fields });
  assert.deepEqual(f([["Transfer-Encoding", "chunked"]]), { kind: "chunked" });
  assert.deepEqual(f([["Content-Length", "12"]]), { kind: "length", length: 12 });
  assert.deepEqual(f([["Content-Length", "5"], ["content-length", "5"]]), {
    kind: "length",
    length: 5,
  });
  assert.deepEqual(f([]), { kind: "none" });
  const refused = (fields: [string, string][], status: number) =>
    assert.throws(() => f(fields), (e) => e instanceof HttpError && e.status === status);
  refused([["Transfer-Encoding", "chunked"], ["Content-Length", "3"]], 400);
  refused([["Content-Length", "5"], ["Content-Length", "6"]], 400);
  refused([["Content-Length", "+5"]], 400);
  refused([["Transfer-Encoding", "gzip, chunked"]], 501);
});

Deno.test("response framing (RFC 9112 §6.3)", () => {
  const res = (status: number, fields: [string, string][] = []) =>
    parseResponseHead(
      enc.encode(
        `HTTP/1.1 ${status} X\r\n${fields.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`,
      ),
    );
  assert.deepEqual(responseFraming(res(200, [["Content-Length", "4"]]), "HEAD"), { kind: "none" });
  assert.deepEqual(responseFraming(res(204), "GET"), { kind: "none" });
  assert.deepEqual(responseFraming(res(304, [["Content-Length", "9"]]), "GET"), { kind: "none" });
  assert.deepEqual(responseFraming(res(200, [["Transfer-Encoding", "gzip, chunked"]]), "GET"), {
    kind: "chunked",
  });
  assert.deepEqual(responseFraming(res(200), "GET"), { kind: "close" });
  assert.deepEqual(responseFraming(res(200, [["Content-Length", "0"]]), "GET"), { kind: "none" });
  assert.throws(
    () => parseResponseHead(enc.encode("HTTP/1.1 2000 X\r\n\r\n")),
    (e) => e instanceof HttpError && e.status === 502,
  );
});

Deno.test("copyBody passes chunked bytes through unchanged and stops at the message end", async () => {
  const body = "5;ext=1\r\nhello\r\n1A\r\n" + "x".repeat(26) + "\r\n0\r\nX-Sum: 9\r\n\r\n";
  const r = readerOf(body.slice(0, 7), body.slice(7, 30), body.slice(30) + "GET /next");
  const s = sink();
  await copyBody(r, s.writer, { kind: "chunked" });
  assert.equal(s.text(), body);
  assert.equal(dec.decode((await r.readSome(100))!), "GET /next", "the next message is kept");
});

Deno.test("copyBody with dechunk writes only the chunks' data", async () => {
  const s = sink();
  await copyBody(readerOf("5;e\r\nhello\r\n3\r\n!!!\r\n0\r\nT: 1\r\n\r\n"), s.writer, {
    kind: "chunked",
  }, true);
  assert.equal(s.text(), "hello!!!");
});

Deno.test("copyBody refuses malformed chunking (negative size, missing CRLF)", async () => {
  for (const body of ["-5\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX0\r\n\r\n", "zz\r\n"]) {
    await assert.rejects(
      copyBody(readerOf(body), sink().writer, { kind: "chunked" }),
      (e) => e instanceof HttpError && e.status === 400,
      JSON.stringify(body),
    );
  }
  await assert.rejects(
    copyBody(readerOf("abc"), sink().writer, { kind: "length", length: 5 }),
    TruncatedMessageError,
  );
});

Deno.test("copyBody: length stops at the length; close reads to the end", async () => {
  const r = readerOf("0123", "456789");
  const s = sink();
  await copyBody(r, s.writer, { kind: "length", length: 6 });
  assert.equal(s.text(), "012345");
  const s2 = sink();
  await copyBody(r, s2.writer, { kind: "close" });
  assert.equal(s2.text(), "6789");
});

Deno.test("routes: longest prefix first, plain string prefix, decoded path, query ignored", () => {
  const routes = sortRoutes([
    { path: "/", target: 3000 },
    { path: "/api/v2/", target: 4002 },
    { path: "/api/", target: 4000 },
    { path: "/app", target: 5000 },
  ]);
  assert.deepEqual(routes.map((r) => r.path), ["/api/v2/", "/api/", "/app", "/"]);
  const to = (t: string) => matchRoute(routes, t)?.target;
  assert.equal(to("/api/v2/users"), 4002); // book, *Route matching*
  assert.equal(to("/api/health"), 4000);
  assert.equal(to("/about"), 3000);
  assert.equal(to("/apple"), 5000); // no segment semantics
  assert.equal(to("/%61pi/x"), 4000); // matched decoded
  assert.equal(to("/x?/api/"), 3000); // the query does not take part
  assert.equal(to("http://h:1/api/x?q"), 4000); // absolute-form
  assert.equal(matchRoute(sortRoutes([{ path: "/api/", target: 1 }]), "/other"), undefined);
  assert.throws(() => to("/%zz"), (e) => e instanceof HttpError && e.status === 400);
});
