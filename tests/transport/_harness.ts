/**
 * Two of our session binds over a scripted hub WebSocket pair and the real hub UDP relay
 * (lib/hub/udp_relay.ts) on loopback, with a real WireGuard + netstack tunnel on top; a
 * STUN responder on loopback for the direct path.
 * @module
 */
import { UdpRelay } from "../../lib/hub/udp_relay.ts";
import { makeUdpOffer } from "../../lib/protocol/mod.ts";
import {
  type BindContext,
  generateSessionKeys,
  type SignalSocket,
  type TunnelConn,
  type TunnelStack,
  wireguardEngine,
} from "../../lib/session/mod.ts";
import { sessionBind, type SessionBindTimings, type TieredBind } from "../../lib/transport/mod.ts";
import { encodeBindingResponse, isStunMessage } from "../../lib/transport/stun.ts";

/** Short health timings so the tests run in seconds. */
export const FAST: Partial<SessionBindTimings> = {
  tickMs: 50,
  suspectMs: 600,
  probeTimeoutMs: 500,
  retryMinMs: 300,
  retryMaxMs: 1000,
};

/**
 * One side's end of a scripted hub WebSocket: binary frames go to the other side with
 * hop 7 (spec §4.3), JSON text to the other side's bind (relayed verbatim, as a hub does).
 * It is also the hub UDP relay's FrameSink for this side ("deliver on my WebSocket").
 */
export class FakeWs {
  peer!: FakeWs;
  bind: TieredBind | null = null;
  open = true;
  bufferedAmount = 0;
  /** DATA frames sent on this WebSocket (not CONTROL). */
  dataSent = 0;
  texts: Record<string, unknown>[] = [];
  #onBinary: ((f: Uint8Array) => void) | null = null;

  onBinary(h: (f: Uint8Array) => void): void {
    this.#onBinary = h;
  }
  sendBinary(frame: Uint8Array): void {
    if (!this.open) return;
    if (frame[2] === 0) this.dataSent++;
    const f = frame.slice();
    f[1] = 7;
    queueMicrotask(() => this.peer.deliver(f));
  }
  /** The hub's UDP relay delivering a frame on this side's WebSocket. */
  sendFrame(frame: Uint8Array): void {
    const f = frame.slice();
    queueMicrotask(() => this.deliver(f));
  }
  deliver(f: Uint8Array): void {
    if (this.open) this.#onBinary?.(f);
  }
  sendJson(msg: Record<string, unknown>): void {
    if (!this.open) return;
    this.texts.push(msg);
    const copy = JSON.parse(JSON.stringify(msg));
    queueMicrotask(() => this.peer.bind?.signal(copy));
  }
  sendText(_t: string): void {}
  close(): void {
    this.open = false;
  }
}

/** A STUN server on loopback answering Binding Requests with the source address. */
export function stunResponder(): { server: string; close(): void; requests: number } {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const state = { requests: 0 };
  (async () => {
    const buf = new Uint8Array(1500);
    for (;;) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await conn.receive(buf);
      } catch {
        return;
      }
      const [d, from] = got;
      if (!isStunMessage(d) || d[0] !== 0 || d[1] !== 1) continue;
      state.requests++;
      const a = from as Deno.NetAddr;
      const reply = encodeBindingResponse(d.slice(8, 20), { hostname: a.hostname, port: a.port });
      await conn.send(reply, a).catch(() => {});
    }
  })();
  return {
    server: `127.0.0.1:${(conn.addr as Deno.NetAddr).port}`,
    close: () => conn.close(),
    get requests() {
      return state.requests;
    },
  };
}

/** A pair of sides: binds, WebSockets, the hub relay and the tunnel stacks. */
export interface Pair {
  relay: UdpRelay;
  relayPort: number;
  agent: { ws: FakeWs; bind: TieredBind; stack: TunnelStack; log: string[] };
  client: { ws: FakeWs; bind: TieredBind; stack: TunnelStack; log: string[] };
  close(): Promise<void>;
}

/**
 * Builds hub relay + two binds + two tunnels. `goHub` wires the relay's sinks the way
 * Go's hub does (spec §5.4 defect: a UDP frame for a peer not on UDP goes back to the
 * sender's own WebSocket).
 */
export function makePair(opts: {
  goHub?: boolean;
  stun?: string[];
  maxTransport?: BindContext["maxTransport"];
  offer?: boolean;
} = {}): Pair {
  const relay = new UdpRelay();
  const relayPort = relay.start("127.0.0.1", 0);
  const aws = new FakeWs();
  const cws = new FakeWs();
  aws.peer = cws;
  cws.peer = aws;
  const entries = opts.goHub ? relay.createPair(cws, aws) : relay.createPair(aws, cws);
  const factory = sessionBind({ timings: FAST });
  const aKeys = generateSessionKeys();
  const cKeys = generateSessionKeys();
  const side = (role: "agent" | "client", ws: FakeWs) => {
    const log: string[] = [];
    const ctx: BindContext = {
      role,
      hubUrl: "ws://127.0.0.1:1",
      log: {
        info: (m) => log.push(m),
        warn: (m) => log.push(`WARN ${m}`),
        debug: (m) => log.push(`debug ${m}`),
      },
      stunServers: opts.stun ?? [],
      maxTransport: opts.maxTransport,
    };
    const bind = factory(ws as unknown as SignalSocket, ctx) as TieredBind;
    ws.bind = bind;
    return { bind, log };
  };
  const a = side("agent", aws);
  const c = side("client", cws);
  const aStack = wireguardEngine({
    privateKey: aKeys.privateKey,
    peerPublicKey: cKeys.publicKey,
    localAddress: "10.77.1.1",
    peerAddress: "10.77.1.2",
    mtu: 1100,
    bind: a.bind,
    persistentKeepaliveSeconds: 0,
  });
  const cStack = wireguardEngine({
    privateKey: cKeys.privateKey,
    peerPublicKey: aKeys.publicKey,
    localAddress: "10.77.1.2",
    peerAddress: "10.77.1.1",
    mtu: 1100,
    bind: c.bind,
    persistentKeepaliveSeconds: 25,
  });
  if (opts.offer !== false) {
    a.bind.signal(makeUdpOffer(relayPort, entries.agent.hex));
    c.bind.signal(makeUdpOffer(relayPort, entries.client.hex));
  }
  return {
    relay,
    relayPort,
    agent: { ws: aws, bind: a.bind, stack: aStack, log: a.log },
    client: { ws: cws, bind: c.bind, stack: cStack, log: c.log },
    async close() {
      aStack.close();
      cStack.close();
      aws.close();
      cws.close();
      relay.close();
      await new Promise((r) => setTimeout(r, 20));
    },
  };
}

/** Waits until `cond()` holds, polling every 20 ms. @throws after `ms` with `what`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Echoes `total` octets through the tunnel (client dials the agent's port 7) in chunks,
 * calling `during(sent)` after every chunk.
 * @returns octets echoed back.
 */
export async function echoThrough(
  p: Pair,
  total: number,
  during: (sent: number) => void | Promise<void> = () => {},
  chunk = 16 * 1024,
): Promise<number> {
  const listener = p.agent.stack.listen(7);
  const serve = (async () => {
    const c = await listener.accept();
    await c.readable.pipeTo(c.writable).catch(() => {});
  })();
  const conn: TunnelConn = await p.client.stack.dial("10.77.1.1", 7);
  let got = 0;
  const reader = (async () => {
    for await (const b of conn.readable) {
      got += b.length;
      if (got >= total) break;
    }
  })();
  const w = conn.writable.getWriter();
  const buf = new Uint8Array(chunk);
  for (let sent = 0; sent < total; sent += chunk) {
    crypto.getRandomValues(buf.subarray(0, 1024));
    await w.write(buf.slice(0, Math.min(chunk, total - sent)));
    await during(sent + chunk);
  }
  await reader;
  w.releaseLock();
  conn.abort();
  listener.close();
  await serve.catch(() => {});
  return got;
}
