/**
 * The path gateway through a real tunnel (issue 13, item 1): an in-process hub, telad's
 * MachineAgent and tela's MachineConnection with the real WireGuard + netstack engine over the
 * hub's WebSocket relay, the client binding the service named `gateway`; behind the gateway
 * three HTTP backends, a WebSocket echo and a port nothing listens on, all real sockets.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { withTestHub } from "../../lib/hub/_test_util.ts";
import { addLogSink, logger } from "../../lib/log/mod.ts";
import { advertisedServices, MachineAgent, validateAgentConfig } from "../../lib/agent/mod.ts";
import { MachineConnection } from "../../lib/client/mod.ts";
import { wsRelayBind } from "../../lib/transport/mod.ts";
import { wireguardEngine } from "../../lib/session/mod.ts";
import { freeTcpPort } from "../free_port.ts";

const MiB = 1024 * 1024;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** What a backend saw of one request. */
interface Seen {
  backend: string;
  method: string;
  /** Path and query as received. */
  target: string;
  host: string | null;
  xff: string | null;
  connection: string | null;
}

function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((
      _,
      rej,
    ) => (t = setTimeout(() => rej(new Error(`${what}: timed out`)), ms))),
  ]).finally(() => clearTimeout(t));
}

/** A Deno.serve backend named `name` on 127.0.0.1; `extra` may answer some paths itself. */
function backend(
  name: string,
  seen: Seen[],
  extra?: (req: Request, url: URL) => Promise<Response | undefined>,
) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      backend: name,
      method: req.method,
      target: url.pathname + url.search,
      host: req.headers.get("host"),
      xff: req.headers.get("x-forwarded-for"),
      connection: req.headers.get("connection"),
    });
    const r = await extra?.(req, url);
    if (r) return r;
    return new Response(`${name} ${url.pathname}${url.search}`);
  });
  return { server, port: server.addr.port };
}

/** Reads a raw HTTP/1.1 response (head + Content-Length body) from `r`. */
async function readResponse(
  r: ReadableStreamDefaultReader<Uint8Array>,
  pending: { buf: Uint8Array },
): Promise<{ head: string; body: string }> {
  const concat = (a: Uint8Array, b: Uint8Array) => {
    const o = new Uint8Array(a.length + b.length);
    o.set(a);
    o.set(b, a.length);
    return o;
  };
  for (;;) {
    const text = dec.decode(pending.buf);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const head = text.slice(0, end);
      const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      const total = end + 4 + len;
      while (pending.buf.length < total) {
        const { value, done } = await r.read();
        if (done) throw new Error("closed inside a body");
        pending.buf = concat(pending.buf, value);
      }
      const body = dec.decode(pending.buf.subarray(end + 4, total));
      pending.buf = pending.buf.subarray(total);
      return { head, body };
    }
    const { value, done } = await r.read();
    if (done) throw new Error(`closed inside a head: ${JSON.stringify(text)}`);
    pending.buf = concat(pending.buf, value);
  }
}

Deno.test({
  name: "path gateway through a real tunnel: prefix routing, headers, bodies, streaming, " +
    "WebSocket, 502s",
  async fn(t) {
    const owner = "0".repeat(63) + "2";
    const lines: string[] = [];
    const unsink = addLogSink((l) => lines.push(l));
    const seen: Seen[] = [];
    let releaseStream!: () => void;
    const streamGate = new Promise<void>((r) => (releaseStream = r));
    let streamFinished = false;
    const app = backend("app", seen);
    const api = backend("api", seen, async (req, url) => {
      if (url.pathname === "/api/upload") {
        const h = createHash("sha256");
        let n = 0;
        for await (const c of req.body!) {
          h.update(c);
          n += c.length;
        }
        return Response.json({ bytes: n, sha256: h.digest("hex") });
      }
      if (url.pathname === "/api/chunked") {
        // A body of unknown length: Deno.serve sends it chunked.
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(enc.encode("part one, "));
              c.enqueue(enc.encode("part two"));
              c.close();
            },
          }),
        );
      }
      if (url.pathname === "/api/events") {
        const body = new ReadableStream<Uint8Array>({
          async start(c) {
            c.enqueue(enc.encode("data: one\n\n"));
            await streamGate;
            c.enqueue(enc.encode("data: two\n\n"));
            streamFinished = true;
            c.close();
          },
        });
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
      }
    });
    const v2 = backend("v2", seen);
    const wsServerSockets: WebSocket[] = [];
    const ws = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      seen.push({
        backend: "ws",
        method: req.method,
        target: new URL(req.url).pathname,
        host: req.headers.get("host"),
        xff: req.headers.get("x-forwarded-for"),
        connection: req.headers.get("connection"),
      });
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (e) => socket.send(e.data);
      wsServerSockets.push(socket);
      return response;
    });
    const downPort = freeTcpPort();
    const gatewayPort = 8080;
    const cfg = validateAgentConfig("telad.yaml", {
      hub: "ws://placeholder",
      machines: [{
        name: "web",
        services: [{ port: 22, name: "SSH" }],
        gateway: {
          port: gatewayPort,
          routes: [
            { path: "/app", target: app.port },
            { path: "/api/", target: api.port },
            { path: "/ws/", target: ws.addr.port },
            { path: "/api/v2/", target: v2.port },
            { path: "/down/", target: downPort },
          ],
        },
      }],
    });
    const machine = { ...cfg.machines[0], token: owner };
    // Registration (spec §5.2): the descriptor and the port appended after the services.
    const advertised = advertisedServices(machine);
    assert.deepEqual(advertised.ports, [22, gatewayPort]);
    assert.deepEqual(advertised.services[1], {
      port: gatewayPort,
      proto: "http",
      name: "gateway",
      description: "Path-based reverse proxy",
    });

    try {
      await withTestHub(owner, async (hub) => {
        const agent = new MachineAgent(machine, {
          hubUrl: hub.url,
          agentId: crypto.randomUUID(),
          registrationIds: {},
          bind: wsRelayBind,
          engine: wireguardEngine,
          log: () => logger("test-agent"),
        });
        const agentRun = agent.run();
        while (agent.registrations === 0) await new Promise((r) => setTimeout(r, 20));
        const local = freeTcpPort();
        let bound = 0;
        let sessionIdx = 0;
        const conn = new MachineConnection({
          hubUrl: hub.url,
          machine: "web",
          token: owner,
          serviceNames: [{ name: "gateway", local }],
          bind: wsRelayBind,
          engine: wireguardEngine,
          log: logger("test-client"),
          onBound: (b) => (bound = b[0]?.localPort ?? 0),
          onSession: (s) => (sessionIdx = s.sessionIdx),
          random: () => 0,
        });
        const run = conn.run();
        try {
          const until = Date.now() + 30_000;
          while ((!bound || !sessionIdx) && Date.now() < until) {
            await new Promise((r) => setTimeout(r, 20));
          }
          assert.equal(bound, local, "the gateway service is bound on the asked local port");
          const base = `http://127.0.0.1:${local}`;
          const clientIp = `10.77.${sessionIdx}.2`;
          // The first request may race the tunnel's first handshake: retry a few times.
          let first: Response | undefined;
          for (let i = 0; i < 20 && !first; i++) {
            first = await fetch(`${base}/app/index.html?x=1`).catch(async () => {
              await new Promise((r) => setTimeout(r, 500));
              return undefined;
            });
          }
          assert.ok(first, "the gateway answered through the tunnel");

          await t.step(
            "routes by longest prefix; path, query, Host kept; XFF appended",
            async () => {
              assert.equal(await first!.text(), "app /app/index.html?x=1");
              const cases: [string, string][] = [
                ["/api/users?limit=5&q=a%20b", "api /api/users?limit=5&q=a%20b"],
                ["/api/v2/users", "v2 /api/v2/users"],
                ["/api/v2", "api /api/v2"], // "/api/v2/" is not a prefix of "/api/v2"
                ["/apple", "app /apple"], // plain string prefix: "/app" matches "/apple"
                ["/%61pi/x", "api /%61pi/x"], // matched on the decoded path, forwarded as sent
              ];
              for (const [path, want] of cases) {
                const res = await fetch(`${base}${path}`);
                assert.equal(res.status, 200, path);
                assert.equal(await res.text(), want, path);
              }
              for (const s of seen) {
                assert.equal(s.host, `127.0.0.1:${local}`, "Host passes through unchanged");
                assert.equal(s.xff, clientIp, "X-Forwarded-For is the client's tunnel address");
              }
              const res = await fetch(`${base}/api/who`, {
                headers: { "x-forwarded-for": "192.0.2.7", host: "app.example:8080" },
              });
              await res.text();
              const last = seen.at(-1)!;
              assert.equal(last.xff, `192.0.2.7, ${clientIp}`);
              assert.equal(last.target, "/api/who");
            },
          );

          await t.step(
            "keep-alive: each request on one connection is routed on its own",
            async () => {
              const c = await Deno.connect({ hostname: "127.0.0.1", port: local });
              const r = c.readable.getReader();
              const pending = { buf: new Uint8Array(0) };
              // Two pipelined requests in one write, then a third after the answers.
              await c.write(enc.encode(
                "GET /api/one HTTP/1.1\r\nHost: h\r\n\r\nGET /app/two HTTP/1.1\r\nHost: h\r\n\r\n",
              ));
              const a = await readResponse(r, pending);
              const b = await readResponse(r, pending);
              assert.match(a.head, /^HTTP\/1\.1 200/);
              assert.equal(a.body, "api /api/one");
              assert.equal(b.body, "app /app/two");
              assert.doesNotMatch(a.head, /connection: close/i);
              await c.write(enc.encode("GET /api/v2/three HTTP/1.1\r\nHost: h\r\n\r\n"));
              assert.equal((await readResponse(r, pending)).body, "v2 /api/v2/three");
              // Each upstream request carried only itself (spec: hop-by-hop fields replaced).
              assert.equal(seen.at(-1)!.connection, "close");
              await c.write(
                enc.encode("GET /nowhere HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
              );
              const nr = await readResponse(r, pending);
              assert.match(nr.head, /^HTTP\/1\.1 502/);
              assert.equal(nr.body, "no gateway route matched\n");
              assert.match(nr.head, /connection: close/i);
              assert.equal((await r.read()).done, true, "closed after Connection: close");
              // Deno closed the socket when its readable reached EOF.
            },
          );

          await t.step("bad requests: malformed head 400, oversized head 431", async () => {
            for (
              const [req, status] of [
                ["GET /api/x HTTP/1.1\r\nHost : h\r\n\r\n", 400],
                [`GET /api/x HTTP/1.1\r\nX-Big: ${"a".repeat(70 * 1024)}\r\n\r\n`, 431],
                [
                  "GET /api/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                  400,
                ],
              ] as const
            ) {
              const c = await Deno.connect({ hostname: "127.0.0.1", port: local });
              const w = c.write(enc.encode(req)).catch(() => {});
              const r = c.readable.getReader();
              const res = await readResponse(r, { buf: new Uint8Array(0) });
              assert.match(res.head, new RegExp(`^HTTP/1\\.1 ${status} `));
              await w;
              r.releaseLock();
              c.close();
            }
          });

          await t.step(
            "an HTTP/1.0 client gets a chunked body decoded, then the close",
            async () => {
              const c = await Deno.connect({ hostname: "127.0.0.1", port: local });
              await c.write(enc.encode("GET /api/chunked HTTP/1.0\r\nHost: h\r\n\r\n"));
              let text = "";
              for await (const b of c.readable) text += dec.decode(b);
              const [head, body] = text.split("\r\n\r\n");
              assert.match(head, /^HTTP\/1\.1 200 /);
              assert.doesNotMatch(head, /transfer-encoding/i);
              assert.match(head, /connection: close/i);
              assert.equal(body, "part one, part two");
            },
          );

          await t.step(
            "request bodies arrive byte-exact (Content-Length and chunked)",
            async () => {
              const body = crypto.getRandomValues(new Uint8Array(64 * 1024));
              const big = new Uint8Array(3 * MiB);
              for (let i = 0; i < big.length; i += body.length) big.set(body, i);
              const want = createHash("sha256").update(big).digest("hex");
              const res = await fetch(`${base}/api/upload`, { method: "POST", body: big });
              assert.deepEqual(await res.json(), { bytes: big.length, sha256: want });
              // A streamed body: fetch sends it chunked.
              let sent = 0;
              const stream = new ReadableStream<Uint8Array>({
                pull(c) {
                  if (sent >= 2 * MiB) return c.close();
                  const piece = big.subarray(sent, Math.min(sent + 100_000, 2 * MiB));
                  sent += piece.length;
                  c.enqueue(piece.slice());
                },
              });
              const want2 = createHash("sha256").update(big.subarray(0, 2 * MiB)).digest("hex");
              const res2 = await fetch(`${base}/api/upload`, {
                method: "POST",
                body: stream,
                // @ts-ignore: Deno's fetch takes `duplex` for a streamed request body
                duplex: "half",
              });
              assert.deepEqual(await res2.json(), { bytes: 2 * MiB, sha256: want2 });
            },
          );

          await t.step("a streamed response arrives before the backend finishes", async () => {
            const res = await fetch(`${base}/api/events`);
            assert.equal(res.headers.get("content-type"), "text/event-stream");
            const r = res.body!.getReader();
            let got = "";
            while (!got.includes("data: one\n\n")) {
              const { value, done } = await deadline(r.read(), 20_000, "first event");
              if (done) break;
              got += dec.decode(value);
            }
            assert.equal(got, "data: one\n\n");
            assert.equal(streamFinished, false, "the backend is still producing");
            releaseStream();
            for (;;) {
              const { value, done } = await deadline(r.read(), 20_000, "rest");
              if (done) break;
              got += dec.decode(value);
            }
            assert.equal(got, "data: one\n\ndata: two\n\n");
          });

          await t.step("a WebSocket upgrade passes through", async () => {
            const sock = new WebSocket(`ws://127.0.0.1:${local}/ws/echo`);
            const msgs: (string | Uint8Array)[] = [];
            let wake = () => {};
            sock.binaryType = "arraybuffer";
            sock.onmessage = (e) => {
              msgs.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
              wake();
            };
            await deadline(
              new Promise((res, rej) => {
                sock.onopen = res;
                sock.onerror = () => rej(new Error("websocket failed"));
              }),
              20_000,
              "websocket open",
            );
            const bin = crypto.getRandomValues(new Uint8Array(60_000));
            sock.send("hello");
            sock.send(bin);
            sock.send("bye");
            while (msgs.length < 3) {
              await deadline(new Promise<void>((r) => (wake = r)), 20_000, "echo");
            }
            assert.equal(msgs[0], "hello");
            assert.deepEqual(msgs[1], bin);
            assert.equal(msgs[2], "bye");
            const closed = new Promise((r) => (sock.onclose = r));
            sock.close();
            await deadline(closed, 20_000, "websocket close");
            const w = seen.find((s) => s.backend === "ws")!;
            assert.equal(w.host, `127.0.0.1:${local}`);
            assert.equal(w.xff, clientIp);
          });

          await t.step(
            "a backend that is down: 502 naming route and target, a log line",
            async () => {
              const res = await fetch(`${base}/down/page`);
              assert.equal(res.status, 502);
              const text = await res.text();
              assert.match(
                text,
                new RegExp(`^gateway route /down/ -> 127\\.0\\.0\\.1:${downPort}: `),
              );
              assert.ok(
                lines.some((l) =>
                  l.includes(`[gateway] http: proxy error: dial tcp 127.0.0.1:${downPort}: `)
                ),
                lines.join("\n"),
              );
              const none = await fetch(`${base}/`);
              assert.equal(none.status, 502);
              assert.equal(await none.text(), "no gateway route matched\n");
              assert.equal(none.headers.get("content-type"), "text/plain; charset=utf-8");
              assert.equal(none.headers.get("x-content-type-options"), "nosniff");
            },
          );

          await t.step("the session's end closes the gateway's upstream connections", async () => {
            const before = wsServerSockets.length;
            const sock = new WebSocket(`ws://127.0.0.1:${local}/ws/held`);
            await deadline(
              new Promise((res, rej) => {
                sock.onopen = res;
                sock.onerror = () => rej(new Error("websocket failed"));
              }),
              20_000,
              "websocket open",
            );
            const upstream = wsServerSockets[before];
            assert.equal(upstream.readyState, WebSocket.OPEN);
            const upstreamClosed = new Promise((r) => upstream.addEventListener("close", r));
            const clientClosed = new Promise((r) => (sock.onclose = r));
            agent.stop();
            await deadline(upstreamClosed, 20_000, "the upstream WebSocket closed");
            await deadline(clientClosed, 20_000, "the client WebSocket closed");
          });

          // Spec §5.3 log lines: the listener and one line per route, longest path first.
          const at = lines.findIndex((l) =>
            l.includes(`[gateway] listening on 10.77.${sessionIdx}.1:${gatewayPort} (5 routes)`)
          );
          assert.ok(at >= 0, lines.join("\n"));
          assert.match(
            lines[at + 1],
            new RegExp(`\\[gateway\\]   /api/v2/ -> 127\\.0\\.0\\.1:${v2.port}$`),
          );
          // Q-GW-1 is shown by every answer above: a plain forwarder on the gateway port would
          // have dialled 127.0.0.1:8080 on the agent's side instead.
        } finally {
          conn.stop();
          agent.stop();
          await run;
          await agentRun;
        }
      });
    } finally {
      unsink();
      releaseStream();
      await Promise.all([app.server, api.server, v2.server, ws].map((s) => s.shutdown()));
    }
  },
});
