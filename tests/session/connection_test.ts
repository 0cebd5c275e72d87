/**
 * Control-plane test against the real hub (in-process): registration, session request,
 * per-session join, `ready`/`wg-pubkey`, relay frames both ways over the bind, local
 * listeners, agent forwarding to a real TCP target, reconnect after the agent goes away,
 * and a wrong token. The tunnel engine is an in-memory stand-in (WireGuard and the
 * netstack have their own tests; the real-process tests in tests/e2e use them).
 */
import assert from "node:assert/strict";
import { x25519 } from "@noble/curves/ed25519.js";
import { withTestHub } from "../../lib/hub/_test_util.ts";
import { logger } from "../../lib/log/mod.ts";
import { MachineAgent } from "../../lib/agent/mod.ts";
import { bytesToHex } from "../../lib/protocol/mod.ts";
import { AccessEndedError, FatalConnectError, MachineConnection } from "../../lib/client/mod.ts";
import { wsRelayBind } from "../../lib/transport/mod.ts";
import {
  KEEPALIVE_CHECK_MS,
  type TunnelConn,
  type TunnelEngine,
  type TunnelStack,
} from "../../lib/session/mod.ts";

function duplexPair(): [TunnelConn, TunnelConn] {
  const ab = new TransformStream<Uint8Array, Uint8Array>();
  const ba = new TransformStream<Uint8Array, Uint8Array>();
  const end = (r: ReadableStream<Uint8Array>, w: WritableStream<Uint8Array>): TunnelConn => ({
    readable: r,
    writable: w,
    closeWrite: () => w.close().catch(() => {}),
    close: () => {
      w.abort().catch(() => {});
      r.cancel().catch(() => {});
    },
    abort: () => {
      w.abort().catch(() => {});
      r.cancel().catch(() => {});
    },
  });
  return [end(ba.readable, ab.writable), end(ab.readable, ba.writable)];
}

/** In-memory engine: stacks find each other by public key; each bind carries a probe datagram. */
function memoryEngine() {
  const stacks = new Map<string, Map<number, TunnelConn[] & { wake?: () => void }>>();
  const probesReceived: string[] = [];
  const engine: TunnelEngine = (o) => {
    const me = bytesToHex(x25519.getPublicKey(o.privateKey));
    const listeners = new Map<number, TunnelConn[] & { wake?: () => void }>();
    stacks.set(me, listeners);
    o.bind.open((d) => probesReceived.push(new TextDecoder().decode(d)));
    o.bind.send(new TextEncoder().encode(`probe from ${o.localAddress}`), "ws");
    const stack: TunnelStack = {
      dial(address, port) {
        const peer = stacks.get(bytesToHex(o.peerPublicKey));
        const q = peer?.get(port);
        if (!q || address !== o.peerAddress) return Promise.reject(new Error("connection refused"));
        const [a, b] = duplexPair();
        q.push(b);
        q.wake?.();
        return Promise.resolve(a);
      },
      listen(port) {
        const q = [] as TunnelConn[] & { wake?: () => void };
        listeners.set(port, q);
        let closed = false;
        return {
          async accept() {
            while (!q.length) {
              if (closed) throw new Error("closed");
              await new Promise<void>((r) => (q.wake = r));
            }
            return q.shift()!;
          },
          close() {
            closed = true;
            q.wake?.();
          },
        };
      },
      close() {
        stacks.delete(me);
        for (const q of listeners.values()) q.wake?.();
      },
    };
    return stack;
  };
  return { engine, probesReceived };
}

function withHub(fn: (url: string, owner: string) => Promise<void>): Promise<void> {
  const owner = "0".repeat(63) + "1";
  return withTestHub(owner, (hub) => fn(hub.url, owner));
}

/** Starts an agent for machine "barn" exposing `port`, named `serviceName` if given. */
function startAgent(
  url: string,
  owner: string,
  engine: TunnelEngine,
  port: number,
  serviceName?: string,
) {
  const agent = new MachineAgent({
    name: "barn",
    target: "127.0.0.1",
    token: owner,
    ports: [port],
    services: [{ port, proto: "tcp", ...(serviceName ? { name: serviceName } : {}) }],
  }, {
    hubUrl: url,
    agentId: crypto.randomUUID(),
    registrationIds: {},
    bind: wsRelayBind,
    engine,
    log: () => logger("test-agent"),
  });
  return { agent, agentRun: agent.run() };
}

/** {@link startAgent}, then waits until the agent registered. */
async function registeredAgent(url: string, owner: string, engine: TunnelEngine, port: number) {
  const { agent, agentRun } = startAgent(url, owner, engine, port);
  while (agent.registrations === 0) await new Promise((r) => setTimeout(r, 20));
  return { agent, agentRun };
}

Deno.test({
  name: "client and agent set up a session through the hub and forward a TCP connection",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withHub(async (url, owner) => {
      const target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const targetPort = (target.addr as Deno.NetAddr).port;
      (async () => {
        for await (const c of target) {
          const buf = new Uint8Array(64);
          const n = await c.read(buf);
          await c.write(
            new TextEncoder().encode(`echo:${new TextDecoder().decode(buf.subarray(0, n!))}`),
          );
          c.close();
        }
      })();
      const { engine, probesReceived } = memoryEngine();
      const { agent, agentRun } = await registeredAgent(url, owner, engine, targetPort);
      const bound: number[] = [];
      const conn = new MachineConnection({
        hubUrl: url,
        machine: "barn",
        token: owner,
        bind: wsRelayBind,
        engine,
        log: logger("test-client"),
        onBound: (b) => bound.push(...b.map((x) => x.localPort)),
        random: () => 0,
      });
      const run = conn.run();
      while (bound.length === 0) await new Promise((r) => setTimeout(r, 20));
      // No -ports: the advertised port is bound (book, Appendix A), at its own number if free.
      assert.ok(bound[0] === targetPort || bound[0] >= targetPort + 10000);
      const c = await Deno.connect({ hostname: "127.0.0.1", port: bound[0] });
      await c.write(new TextEncoder().encode("hi"));
      const got = new Uint8Array(64);
      const n = await c.read(got);
      assert.equal(new TextDecoder().decode(got.subarray(0, n!)), "echo:hi");
      c.close();
      // Relay frames crossed the hub both ways.
      const deadline = Date.now() + 10_000;
      while (probesReceived.length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(probesReceived.sort(), ["probe from 10.77.1.1", "probe from 10.77.1.2"]);

      // The agent goes away: the session ends; a new agent process (same identity) comes
      // back and the same local listener works again without restarting the client.
      agent.stop();
      await agentRun;
      const agent2 = new MachineAgent(agent.machine, agent.opts);
      const agent2Run = agent2.run();
      const until = Date.now() + 60_000;
      while (conn.sessions < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      assert.equal(conn.sessions, 2);
      const c2 = await Deno.connect({ hostname: "127.0.0.1", port: bound[0] });
      await c2.write(new TextEncoder().encode("again"));
      const n2 = await c2.read(got);
      assert.equal(new TextDecoder().decode(got.subarray(0, n2!)), "echo:again");
      c2.close();
      assert.equal(bound.length, 1, "the listener was bound once and kept");
      conn.stop();
      agent2.stop();
      await run;
      await agent2Run;
      target.close();
    });
  },
});

Deno.test({
  name: "a wrong token ends an ad-hoc connection with a clear error",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withHub(async (url, owner) => {
      const { engine } = memoryEngine();
      const { agent, agentRun } = await registeredAgent(url, owner, engine, 22);
      const conn = new MachineConnection({
        hubUrl: url,
        machine: "barn",
        token: "f".repeat(64),
        bind: wsRelayBind,
        engine,
        log: logger("test-client"),
        fatalFirstDenial: true,
      });
      await assert.rejects(conn.run(), (e: Error) => {
        assert.ok(e instanceof FatalConnectError);
        assert.match(e.message, /Access denied/);
        return true;
      });
      conn.stop();
      agent.stop();
      await agentRun;
    });
  },
});

/** A logger that keeps its lines. */
function recordingLogger() {
  const lines: string[] = [];
  const rec = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  return {
    lines,
    log: { debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") },
  };
}

/**
 * A scripted hub: each client `connect` is answered by `script(ws, attempt)`; `ready` and
 * `wg-pubkey` are sent for the attempts it lets through.
 */
function scriptedHub(script: (ws: WebSocket, attempt: number) => void) {
  let attempts = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (ev) => {
      if (typeof ev.data === "string" && JSON.parse(ev.data).type === "connect") {
        script(socket, ++attempts);
      }
    };
    return response;
  });
  return { server, url: `ws://127.0.0.1:${server.addr.port}`, attempts: () => attempts };
}

function sessionUp(ws: WebSocket) {
  ws.send(JSON.stringify({ type: "ready", sessionIdx: 3 }));
  ws.send(
    JSON.stringify({ type: "wg-pubkey", wgPubKey: "11".repeat(32), ports: [22] }),
  );
}

const idleEngine: TunnelEngine = (o) => {
  o.bind.open(() => {});
  return {
    dial: () => Promise.reject(new Error("no peer")),
    listen: () => ({ accept: () => new Promise(() => {}), close() {} }),
    close() {},
  };
};

/**
 * A connection to machine "barn" of the scripted hub at `hubUrl` with token "t", the idle
 * engine and the shortest backoff (`random: () => 0`), logging to `log`.
 */
function barnConnection(hubUrl: string, log: ReturnType<typeof recordingLogger>["log"]) {
  return new MachineConnection({
    hubUrl,
    machine: "barn",
    token: "t",
    bind: wsRelayBind,
    engine: idleEngine,
    log,
    random: () => 0,
  });
}

const REVOKED = 'Access denied: token of identity "bob" was revoked';

function deny(ws: WebSocket, message: string) {
  ws.send(JSON.stringify({ type: "error", message }));
  ws.close(1008, message);
}

Deno.test({
  name: "a session cut with a revocation ends the connection with the hub's reason; no retry",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = scriptedHub((ws) => {
      sessionUp(ws);
      setTimeout(() => deny(ws, REVOKED), 200);
    });
    const { lines, log } = recordingLogger();
    const conn = barnConnection(hub.url, log);
    await assert.rejects(conn.run(), (e: Error) => {
      assert.ok(e instanceof AccessEndedError, String(e));
      assert.equal(
        e.message,
        'access to "barn" ended by the hub: token of identity "bob" was revoked; ' +
          "ask the hub administrator (tela admin access) or use another token",
      );
      assert.equal(e.scope, "token");
      assert.equal(e.hubUrl, hub.url);
      return true;
    });
    conn.stop();
    // Longer than the shortest backoff (2.25 s): a retry would have shown by now.
    await new Promise((r) => setTimeout(r, 3_000));
    await hub.server.shutdown();
    assert.equal(conn.sessions, 1);
    assert.equal(hub.attempts(), 1, "no connect after the revocation");
    assert.ok(lines.includes(`info session ended -- cleaning up (${REVOKED})`), lines.join("\n"));
  },
});

Deno.test({
  name: "a reconnect refused after a session had been up ends the connection (plain denial too)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = scriptedHub((ws, attempt) => {
      if (attempt === 1) {
        sessionUp(ws);
        // The agent goes away: the client reconnects, as before.
        setTimeout(() => ws.close(1001, "agent disconnected"), 200);
      } else deny(ws, "Access denied");
    });
    const { log } = recordingLogger();
    const conn = barnConnection(hub.url, log);
    await assert.rejects(conn.run(), (e: Error) => {
      assert.ok(e instanceof AccessEndedError, String(e));
      assert.equal(
        e.message,
        'access to "barn" ended by the hub: access denied; ' +
          "ask the hub administrator (tela admin access) or use another token",
      );
      assert.equal(e.scope, "unknown");
      return true;
    });
    conn.stop();
    await hub.server.shutdown();
    assert.equal(hub.attempts(), 2, "one reconnect after the agent left, none after the denial");
  },
});

Deno.test({
  name: "before any session, a plain denial is retried (profile) but a revoked token is not",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const plain = scriptedHub((ws) => deny(ws, "Access denied"));
    const { lines, log } = recordingLogger();
    const conn = barnConnection(plain.url, log);
    const run = conn.run();
    const deadline = Date.now() + 20_000;
    while (plain.attempts() < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    conn.stop();
    await run;
    await plain.server.shutdown();
    assert.ok(plain.attempts() >= 2, "retried");
    assert.ok(
      lines.includes(
        'warn hub refused access to "barn": Access denied (not granted yet? will retry)',
      ),
      lines.join("\n"),
    );

    const revoked = scriptedHub((ws) => deny(ws, REVOKED));
    const conn2 = barnConnection(revoked.url, log);
    await assert.rejects(conn2.run(), (e: Error) => {
      assert.ok(e instanceof AccessEndedError, String(e));
      assert.match(
        e.message,
        /^access to "barn" refused by the hub: token of identity "bob" was revoked; /,
      );
      return true;
    });
    conn2.stop();
    await revoked.server.shutdown();
    assert.equal(revoked.attempts(), 1);
  },
});

Deno.test({
  name: "Invalid token (open-mode hub) stops the connection for good, before or after a session",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = scriptedHub((ws) => {
      ws.send(JSON.stringify({ type: "error", message: "Invalid token" }));
      ws.close(1008, "Invalid token");
    });
    const { log } = recordingLogger();
    const conn = new MachineConnection({
      hubUrl: hub.url,
      machine: "barn",
      bind: wsRelayBind,
      engine: idleEngine,
      log,
    });
    await assert.rejects(conn.run(), (e: Error) => {
      assert.ok(e instanceof FatalConnectError);
      assert.equal(e.message, 'hub rejected the token for "barn": Invalid token');
      return true;
    });
    conn.stop();
    assert.equal(hub.attempts(), 1, "no retry");
    await hub.server.shutdown();
  },
});

Deno.test({
  name: "a peer that stops answering in-band keepalives ends the session; the client reconnects",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Drive the tunnel's 5 s keepalive checks and its clock by hand.
    const realSetInterval = globalThis.setInterval;
    const realNow = performance.now;
    const ticks: (() => void)[] = [];
    let clock = 1_000;
    globalThis.setInterval = ((fn: () => void, ms?: number) => {
      if (ms === KEEPALIVE_CHECK_MS) ticks.push(fn);
      return realSetInterval(
        ms === KEEPALIVE_CHECK_MS ? () => {} : fn,
        ms === KEEPALIVE_CHECK_MS ? 1e9 : ms,
      );
    }) as typeof setInterval;
    performance.now = () => clock;
    const controlSeen: number[] = [];
    const hub = scriptedHub((ws) => {
      sessionUp(ws);
      ws.onmessage = (ev) => {
        // A peer that is gone: CONTROL requests (flags byte 0x01) are never answered.
        if (typeof ev.data !== "string") {
          const f = new Uint8Array(ev.data as ArrayBuffer);
          if (f[2] === 1) controlSeen.push(f[7]);
        }
      };
    });
    const { lines, log } = recordingLogger();
    const conn = new MachineConnection({
      hubUrl: hub.url,
      machine: "barn",
      bind: wsRelayBind,
      engine: idleEngine,
      log,
      random: () => 0,
    });
    try {
      const run = conn.run();
      const until = async (ok: () => boolean) => {
        const deadline = Date.now() + 10_000;
        while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      };
      await until(() => ticks.length === 1);
      assert.equal(conn.sessions, 1);
      /** Moves the clock to `s` seconds after the tunnel came up, checking every 5 s. */
      let at = 0;
      const advanceTo = (s: number) => {
        for (; at < s; at += 5) {
          clock += 5_000;
          ticks[0]();
        }
      };
      advanceTo(25);
      assert.equal(controlSeen.length, 0, "no request before 30 s");
      advanceTo(30); // request 0x01 sent
      await until(() => controlSeen.length === 1);
      assert.deepEqual(controlSeen, [1]);
      advanceTo(70); // a second request at 60 s; the first is 40 s old: within budget
      await until(() => controlSeen.length === 2);
      assert.ok(!lines.some((l) => l.includes("keepalive")), lines.join("\n"));
      advanceTo(75); // the first request is 45 s old: the session is closed
      await until(() => lines.some((l) => l.startsWith("info session ended")));
      assert.ok(
        lines.includes("warn session keepalive unanswered for 45 s, closing the session"),
        lines.join("\n"),
      );
      assert.ok(lines.includes("info session ended -- cleaning up (keepalive timeout)"));
      // ... and the connection tries again (a new session, new keys).
      await until(() => conn.sessions === 2);
      assert.equal(conn.sessions, 2);
      conn.stop();
      await run;
    } finally {
      globalThis.setInterval = realSetInterval;
      performance.now = realNow;
      conn.stop();
      await hub.server.shutdown();
    }
  },
});

Deno.test({
  name: "service names are resolved in the reconnect loop: retried while the machine is not " +
    "listed, then bound with the explicit ports",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { engine } = memoryEngine();
    const target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (target.addr as Deno.NetAddr).port;
    await withHub(async (url, owner) => {
      const { log, lines } = recordingLogger();
      const bound: number[][] = [];
      const conn = new MachineConnection({
        hubUrl: url,
        machine: "barn",
        token: owner,
        mappings: [{ local: 0, remote: 22 }],
        serviceNames: [{ name: "PORT-" + port, local: 0 }],
        bind: wsRelayBind,
        engine,
        log,
        random: () => 0, // 3 s - 25 %
        onBound: (b) => bound.push(b.map((s) => s.remotePort)),
      });
      conn.bindExplicit();
      assert.equal(conn.listeners.length, 0, "explicit ports wait for the names");
      const running = conn.run();
      while (!lines.some((l) => /retrying service resolution in/.test(l))) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(
        lines.includes('warn machine "barn" is not registered on this hub yet (will retry)'),
      );
      assert.ok(!lines.some((l) => /connecting to hub/.test(l)), "no dial before the names");
      // The agent names its service PORT-<port> (as `telad -ports <port>:PORT-<port>`).
      const { agent, agentRun } = startAgent(url, owner, engine, port, "PORT-" + port);
      while (conn.sessions === 0) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(conn.listeners.map((l) => l.remotePort), [22, port]);
      assert.deepEqual(bound[0], [22, port], "one Services block, explicit ports first");
      conn.stop();
      agent.stop();
      await Promise.all([running, agentRun.catch(() => {})]);
    });
    target.close();
  },
});

Deno.test({
  name: "a service name the agent does not advertise ends the connection at once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { engine } = memoryEngine();
    await withHub(async (url, owner) => {
      const { agent, agentRun } = await registeredAgent(url, owner, engine, 4022);
      const { log } = recordingLogger();
      const conn = new MachineConnection({
        hubUrl: url,
        machine: "barn",
        token: owner,
        serviceNames: [{ name: "mysql" }],
        bind: wsRelayBind,
        engine,
        log,
      });
      await assert.rejects(conn.run(), (e: Error) => {
        assert.ok(e instanceof FatalConnectError);
        assert.match(e.message, /^service "mysql" not found on machine "barn" \(available: /);
        return true;
      });
      assert.equal(conn.listeners.length, 0);
      conn.stop();
      agent.stop();
      await agentRun.catch(() => {});
    });
  },
});

Deno.test({
  name: "the advertised ports are printed in one Services block, with the agent's names, once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { engine } = memoryEngine();
    await withHub(async (url, owner) => {
      const agent = new MachineAgent({
        name: "barn",
        target: "127.0.0.1",
        token: owner,
        ports: [4080],
        services: [{ port: 4080, proto: "tcp", name: "web" }],
      }, {
        hubUrl: url,
        agentId: crypto.randomUUID(),
        registrationIds: {},
        bind: wsRelayBind,
        engine,
        log: () => logger("test-agent"),
      });
      const agentRun = agent.run();
      while (agent.registrations === 0) await new Promise((r) => setTimeout(r, 20));
      const blocks: string[][] = [];
      const conn = new MachineConnection({
        hubUrl: url,
        machine: "barn",
        token: owner,
        bind: wsRelayBind,
        engine,
        log: logger("test-client"),
        onBound: (b) => blocks.push(b.map((s) => `${s.remotePort}:${s.name ?? ""}`)),
      });
      const running = conn.run();
      while (conn.sessions === 0 || blocks.length === 0) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 500)); // time for a second block, were there one
      assert.deepEqual(blocks, [["4080:web"]]);
      conn.stop();
      agent.stop();
      await Promise.all([running, agentRun.catch(() => {})]);
    });
  },
});
