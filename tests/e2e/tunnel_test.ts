/**
 * End-to-end with real processes: `telahubd`, `telad` and `tela` as `deno run`
 * subprocesses, temporary HOME folders, free loopback ports (issue #5, item 5).
 */
import assert from "node:assert/strict";
import { type DuplexConn, socketDuplex } from "../../lib/session/mod.ts";
import { pattern, patternHash } from "../../lib/netstack/_test_util.ts";
import { createHash } from "node:crypto";
import {
  boundPort,
  freeTcpPort,
  httpGet,
  IN_CI,
  type Proc,
  startAgent,
  startClient,
  startHub,
  tunnelUps,
} from "./harness.ts";

const MiB = 1024 * 1024;

async function writePattern(conn: DuplexConn, seed: number, total: number) {
  const w = conn.writable.getWriter();
  for (const b of pattern(seed, total)) await w.write(b);
  w.releaseLock();
  await conn.closeWrite();
}

async function hashAll(conn: DuplexConn): Promise<{ hash: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  for await (const c of conn.readable) {
    h.update(c);
    bytes += c.length;
  }
  return { hash: h.digest("hex"), bytes };
}

/** A socket with half-close intact (`Deno.Conn.readable` closes the socket at EOF). */
async function connect(port: number): Promise<DuplexConn> {
  return socketDuplex(await Deno.connect({ hostname: "127.0.0.1", port }));
}

/** The agent-side TCP service: protocol chosen by the first byte. */
function startTarget() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const bulkResults: { hash: string; bytes: number }[] = [];
  (async () => {
    for await (const sock of listener) {
      (async () => {
        const first = new Uint8Array(1);
        if ((await sock.read(first)) !== 1) return sock.close();
        const conn = socketDuplex(sock);
        if (first[0] === 0x42) {
          // 'B': bulk both ways: send 64 MiB of pattern 2 while hashing what arrives.
          const [got] = await Promise.all([hashAll(conn), writePattern(conn, 2, 64 * MiB)]);
          bulkResults.push(got);
        } else {
          // anything else: echo (the first byte included) until EOF.
          const w = conn.writable.getWriter();
          await w.write(first);
          w.releaseLock();
          await conn.readable.pipeTo(conn.writable).catch(() => {});
        }
        conn.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  return { listener, port, bulkResults };
}

const owner = "e2e0".repeat(16);

Deno.test({
  name: "tela reaches services behind telad through telahubd (real processes)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const hubDir = await Deno.makeTempDir({ prefix: "e2e-hub-" });
    const agentHome = await Deno.makeTempDir({ prefix: "e2e-agent-" });
    const clientHome = await Deno.makeTempDir({ prefix: "e2e-client-" });
    const web = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("hello through the tunnel\n"),
    );
    const target = startTarget();
    const procs: Proc[] = [];
    let hub = await startHub(hubDir, owner);
    procs.push(hub.proc);
    const startWeb01 = () =>
      startAgent(agentHome, hub.url, "web01", owner, `${web.addr.port}:HTTP,${target.port}:data`);
    let agent = startWeb01();
    procs.push(agent);
    const webLocal = freeTcpPort();
    const dataLocal = freeTcpPort();
    const client = startClient(clientHome, [
      "-hub",
      hub.url,
      "-machine",
      "web01",
      "-token",
      owner,
      "-ports",
      `${webLocal}:${web.addr.port},${dataLocal}:${target.port}`,
    ]);
    procs.push(client);
    try {
      await t.step("the client prints the Services block and the tunnel comes up", async () => {
        await client.waitFor(/^Services available:$/);
        // The names telad advertises (`-ports <p>:HTTP,<q>:data`), not "port <n>".
        assert.equal(await boundPort(client, "HTTP"), webLocal);
        assert.equal(await boundPort(client, "data"), dataLocal);
        await tunnelUps(client, 1);
      });

      await t.step("curl fetches a page through the tunnel", async () => {
        const curl = await new Deno.Command("curl", {
          args: [
            "-sS",
            "--max-time",
            "30",
            "--retry",
            "5",
            "--retry-all-errors",
            `http://localhost:${webLocal}/`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output().catch((e) => {
          if (IN_CI) throw e;
          return null;
        });
        if (curl === null) {
          console.log("curl not installed: using fetch instead");
          assert.equal(
            await httpGet(`http://localhost:${webLocal}/`),
            "hello through the tunnel\n",
          );
          return;
        }
        assert.equal(new TextDecoder().decode(curl.stderr), "");
        assert.equal(new TextDecoder().decode(curl.stdout), "hello through the tunnel\n");
      });

      await t.step("64 MiB each way arrive byte-exact", async () => {
        const conn = await connect(dataLocal);
        const sent = (async () => {
          const w = conn.writable.getWriter();
          await w.write(new Uint8Array([0x42]));
          for (const b of pattern(1, 64 * MiB)) await w.write(b);
          w.releaseLock();
          await conn.closeWrite();
        })();
        const [got] = await Promise.all([hashAll(conn), sent]);
        conn.close();
        assert.deepEqual(got, { hash: patternHash(2, 64 * MiB), bytes: 64 * MiB });
        const deadline = Date.now() + 30_000;
        while (target.bulkResults.length === 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual(target.bulkResults[0], {
          hash: patternHash(1, 64 * MiB),
          bytes: 64 * MiB,
        });
      });

      await t.step("20 parallel connections each get their own bytes back", async () => {
        const one = async (i: number) => {
          const conn = await connect(dataLocal);
          const size = 256 * 1024;
          const data = new Uint8Array(size);
          for (let j = 0; j < size; j++) data[j] = (j * 31 + i * 7 + 1) & 0xff;
          data[0] = 0x45; // 'E': echo
          const writing = (async () => {
            const w = conn.writable.getWriter();
            await w.write(data);
            w.releaseLock();
            await conn.closeWrite();
          })();
          const chunks: Uint8Array[] = [];
          for await (const c of conn.readable) chunks.push(c);
          await writing;
          conn.close();
          const got = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
          let o = 0;
          for (const c of chunks) {
            got.set(c, o);
            o += c.length;
          }
          assert.equal(got.length, size, `connection ${i} length`);
          assert.ok(got.every((b, j) => b === data[j]), `connection ${i} bytes`);
        };
        await Promise.all(Array.from({ length: 20 }, (_, i) => one(i)));
      });

      await t.step("after an agent restart the same listener works again", async () => {
        await agent.stop();
        agent = startWeb01();
        procs.push(agent);
        await agent.waitFor(/registered with hub/, 90_000);
        await tunnelUps(client, 2, 180_000);
        assert.equal(await httpGet(`http://localhost:${webLocal}/`), "hello through the tunnel\n");
      });

      await t.step("after a hub restart the same listener works again", async () => {
        const port = hub.port;
        await hub.proc.stop();
        hub = await startHub(hubDir, owner, port);
        procs.push(hub.proc);
        await agent.waitFor(/registered with hub/, 120_000, true);
        await tunnelUps(client, 3, 240_000);
        assert.equal(await httpGet(`http://localhost:${webLocal}/`), "hello through the tunnel\n");
      });

      await t.step("a wrong token gives a clear error and a non-zero exit", async () => {
        const bad = startClient(clientHome, [
          "-hub",
          hub.url,
          "-machine",
          "web01",
          "-token",
          "0".repeat(64),
          "-ports",
          String(freeTcpPort()),
        ]);
        procs.push(bad);
        const status = await bad.exited;
        assert.notEqual(status.code, 0);
        assert.match(bad.output, /Error: hub refused access to "web01": Access denied/);
      });
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await web.shutdown();
      target.listener.close();
      for (const d of [hubDir, agentHome, clientHome]) await Deno.remove(d, { recursive: true });
    }
  },
});
