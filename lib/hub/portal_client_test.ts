import assert from "node:assert/strict";
import {
  MAX_RESPONSE_BYTES,
  PortalRegistrationError,
  registerWithPortal,
} from "./portal_client.ts";

/** A loopback "portal" whose registration endpoint answers `status` with an endless body. */
function endlessPortal(status: number, chunk: string) {
  let sent = 0;
  const limit = 64 * MAX_RESPONSE_BYTES; // bounded: the stream ends here at the latest
  const bytes = new TextEncoder().encode(chunk.repeat(Math.ceil(65536 / chunk.length)));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (new URL(req.url).pathname === "/.well-known/tela") {
      return Response.json({ hub_directory: "/api/hubs" });
    }
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= limit) return c.close();
        sent += bytes.length;
        c.enqueue(bytes);
      },
    }, { highWaterMark: 0 });
    return new Response(body, { status });
  });
  return { server, url: `http://127.0.0.1:${server.addr.port}`, sent: () => sent };
}

Deno.test("a portal's endless error body is read up to 1 MiB, and at most ~200 chars are quoted", async () => {
  const p = endlessPortal(500, "bad\u001b[31m");
  try {
    const err = await registerWithPortal({ portalUrl: p.url, hubName: "h", hubUrl: "wss://h" })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof PortalRegistrationError, String(err));
    assert.match(err.message, /^portal returned HTTP 500: bad/);
    assert.ok(err.message.length < 400, `quoted ${err.message.length} chars`);
    assert.ok(!err.message.includes("\u001b"), "escaped");
    assert.ok(
      p.sent() < 8 * MAX_RESPONSE_BYTES,
      `the hub stopped reading (${p.sent()} bytes sent)`,
    );
  } finally {
    await p.server.shutdown();
  }
});

Deno.test("a portal's endless 200 body stops at 1 MiB and is reported as undecodable", async () => {
  const p = endlessPortal(200, '{"syncToken":"');
  try {
    const err = await registerWithPortal({ portalUrl: p.url, hubName: "h", hubUrl: "wss://h" })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof PortalRegistrationError, String(err));
    assert.match(err.message, /^decode portal response: /);
    assert.ok(
      p.sent() < 8 * MAX_RESPONSE_BYTES,
      `the hub stopped reading (${p.sent()} bytes sent)`,
    );
  } finally {
    await p.server.shutdown();
  }
});
