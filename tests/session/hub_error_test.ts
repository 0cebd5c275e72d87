/**
 * describeHubError on the errors Deno 2.9.6 really throws, each provoked on loopback: a
 * closed port (refused), a listener that accepts and never answers (timeout), `wss://` to a
 * plain server and to a TLS server whose self-signed certificate `openssl` makes here (TLS),
 * and a host name the resolver rejects before sending anything (DNS). Both ways of reaching
 * a hub are covered: the signaling WebSocket and the HTTP API (`/api/status`).
 */
import assert from "node:assert/strict";
import { freeTcpPort } from "../free_port.ts";
import { SignalSocket } from "../../lib/session/signal.ts";
import {
  classifyHubError,
  describeHubError,
  describeHubRetry,
  HubDialError,
  HubTimeoutError,
} from "../../lib/session/hub_error.ts";

const REPO = new URL("../../", import.meta.url).pathname;

const closedPort = freeTcpPort;

/**
 * Both failures for one URL: the WebSocket dial, and a `fetch` of `/api/status` as the hub
 * API calls make it (lib/client's fetchHubStatus wraps the same error the same way; its own
 * test is in lib/client/cli_test.ts).
 */
async function bothFailures(url: string, timeoutMs = 5_000): Promise<[HubDialError, HubDialError]> {
  let dial: unknown, api: unknown;
  try {
    (await SignalSocket.dial(url, timeoutMs)).close();
  } catch (e) {
    dial = e;
  }
  const http = url.replace(/^ws/i, "http");
  try {
    const res = await fetch(`${http}/api/status`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
  } catch (e) {
    api = new HubDialError(url, e);
  }
  assert.ok(dial instanceof HubDialError, `dial: ${dial}`);
  assert.ok(api instanceof HubDialError, `api: ${api}`);
  return [dial, api];
}

Deno.test("a closed port: connection refused, naming the URL, the address and the fix", async () => {
  const port = closedPort();
  const url = `ws://127.0.0.1:${port}`;
  for (const e of await bothFailures(url)) {
    assert.equal(
      e.message,
      `could not reach hub ${url}: connection refused by 127.0.0.1:${port} (no hub listens ` +
        `there); check that telahubd is running and the port is right`,
    );
  }
});

Deno.test("a listener that never answers: timeout after the configured time", async () => {
  const sink = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of sink) held.push(c);
  })();
  const port = (sink.addr as Deno.NetAddr).port;
  try {
    const url = `ws://127.0.0.1:${port}`;
    const started = Date.now();
    const [dial, api] = await bothFailures(url, 300);
    assert.ok(Date.now() - started < 5_000, "both gave up after about 300 ms each");
    assert.equal(classifyHubError(dial), "timeout");
    assert.equal(classifyHubError(api.cause), "timeout");
    assert.match(dial.message, new RegExp(`^could not reach hub ${url}: timeout, no answer `));
    assert.match(dial.message, /from 127\.0\.0\.1:\d+ within 300 ms; check the address/);
    assert.match(api.message, /: timeout, no answer from 127\.0\.0\.1:\d+; check the address/);
  } finally {
    sink.close();
    await accepting;
    for (const c of held) c.close();
  }
});

Deno.test("wss:// to a plain-HTTP hub says there is no TLS there and suggests ws://", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    return new Response("plain");
  });
  try {
    const port = server.addr.port;
    for (const e of await bothFailures(`wss://127.0.0.1:${port}`)) {
      assert.equal(classifyHubError(e.cause), "tls-plain");
      assert.equal(
        e.message,
        `could not reach hub wss://127.0.0.1:${port}: TLS handshake failed, 127.0.0.1:${port} ` +
          `answered in plain text (no TLS there); for a hub without TLS use ws://127.0.0.1:${port}`,
      );
    }
  } finally {
    await server.shutdown();
  }
});

/** A self-signed leaf certificate for 127.0.0.1 (not a CA: webpki refuses a CA as end entity). */
async function selfSigned(dir: string): Promise<{ cert: string; key: string; certPath: string }> {
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-days",
      "1",
      "-subj",
      "/CN=tela test hub",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return {
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
    certPath: `${dir}/cert.pem`,
  };
}

Deno.test({
  name:
    "an untrusted certificate says how to trust it (DENO_CERT really works); ws:// to TLS suggests wss://",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tela-tls-" });
    const tls = await selfSigned(dir);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key, onListen() {} },
      () => Response.json({ machines: [], timestamp: "2026-12-02T00:00:00Z" }),
    );
    try {
      const url = `wss://127.0.0.1:${server.addr.port}`;
      for (const e of await bothFailures(url)) {
        assert.equal(classifyHubError(e.cause), "tls-untrusted");
        assert.match(
          e.message,
          new RegExp(
            `^could not reach hub ${url}: the TLS certificate of 127\\.0\\.0\\.1:\\d+ is not trusted \\(invalid peer certificate: UnknownIssuer`,
          ),
        );
        assert.match(
          e.message,
          /set DENO_CERT=\/path\/to\/ca\.pem .*DENO_TLS_CA_STORE=mozilla,system$/,
        );
      }
      // The other way round: ws:// to a TLS hub says so and suggests wss://.
      const plainUrl = url.replace("wss:", "ws:");
      for (const e of await bothFailures(plainUrl)) {
        assert.equal(classifyHubError(e.cause), "tls-expected");
        assert.equal(
          e.message,
          `could not reach hub ${plainUrl}: 127.0.0.1:${server.addr.port} answered with TLS, ` +
            `not plain HTTP; for a hub with TLS use ${url}`,
        );
      }
      // The advice works: the same command succeeds once DENO_CERT names the certificate.
      const tela = (env: Record<string, string>) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${REPO}cmd/tela.ts`, "status", "-hub", url, "-token", "t"],
          env: { HOME: dir, NO_COLOR: "1", ...env },
          stdout: "piped",
          stderr: "piped",
        }).output();
      const [untrusted, trusted] = await Promise.all([
        tela({}),
        tela({ DENO_CERT: tls.certPath }),
      ]);
      const text = (b: Uint8Array) => new TextDecoder().decode(b);
      assert.equal(untrusted.code, 1);
      assert.match(text(untrusted.stderr), /^Error: could not reach hub .* is not trusted/m);
      assert.equal(trusted.code, 0, text(trusted.stderr));
      assert.match(text(trusted.stdout), new RegExp(`^Hub: +${url}\nMachines: +0 registered`));
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("an unresolvable host name: DNS, without a query leaving the machine", async () => {
  // /etc/resolv.conf here names a resolver off this machine, so no real NXDOMAIN lookup is
  // made. A 64-octet label is over DNS's 63-octet limit (RFC 1035 §2.3.4): glibc's resolver
  // refuses to encode the query and getaddrinfo fails locally (checked with strace: no
  // socket to port 53 is opened), yet Deno reports it exactly as any failed lookup.
  const host = `${"a".repeat(64)}.example`;
  for (const e of await bothFailures(`ws://${host}:8080`)) {
    assert.equal(classifyHubError(e.cause), "dns");
    assert.match(
      e.message,
      new RegExp(`^could not reach hub ws://${host}:8080: DNS lookup of "${host}" failed \\(`),
    );
    assert.match(e.message, /check the host name and this machine's DNS settings/);
  }
});

Deno.test("a web server that is not a hub: its HTTP status instead of an upgrade", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    return new Response("no hub here", { status: 404 });
  });
  try {
    const url = `ws://127.0.0.1:${server.addr.port}/ws`;
    await assert.rejects(SignalSocket.dial(url), (e: Error) => {
      assert.equal(
        e.message,
        `could not reach hub ${url}: 127.0.0.1:${server.addr.port} answered HTTP 404 instead ` +
          `of a WebSocket upgrade; is it a Tela hub, and is the URL (path included) right?`,
      );
      return true;
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("the retry line carries the cause, the wait and the attempt number", () => {
  const err = new HubDialError("ws://127.0.0.1:9", new HubTimeoutError(15_000, "handshake"));
  assert.equal(
    describeHubRetry("ws://127.0.0.1:9", err, 6_000, 2),
    "could not reach hub ws://127.0.0.1:9: timeout, no answer from 127.0.0.1:9 within 15 s; " +
      "check the address, and that no firewall or proxy drops the traffic; retrying in 6s (attempt 2)",
  );
  assert.match(
    describeHubError("wss://hub.example.com", new Error("no route to host (os error 113)")),
    /^could not reach hub wss:\/\/hub\.example\.com: no route to hub\.example\.com:443 /,
  );
});

Deno.test("a port fetch refuses to call (the Fetch standard's bad ports) says so and what to do", async () => {
  const url = "ws://127.0.0.1:1";
  let api: unknown;
  try {
    await fetch("http://127.0.0.1:1/api/status");
  } catch (e) {
    api = new HubDialError(url, e);
  }
  assert.ok(api instanceof HubDialError);
  assert.equal(classifyHubError(api), "blocked-port");
  assert.equal(
    api.message,
    `could not reach hub ${url}: port 1 is on the Fetch standard's list of blocked ports, so ` +
      `the hub's HTTP API cannot be called there; run the hub on another port (e.g. 8080)`,
  );
});
