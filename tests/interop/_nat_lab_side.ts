/**
 * One end of the NAT lab test (nat_punch_test.ts), run inside a host namespace behind a
 * NAT: a {@link TieredBind} whose "hub WebSocket" is stdin/stdout JSON lines (the test
 * relays them to the other end, as a hub would), WireGuard + netstack on top. The agent
 * end echoes on tunnel port 7; the client end, on `{"t":"go"}`, echoes N octets through
 * it and prints `{"t":"done","got":N}`. Every transport change prints `{"t":"state"}`.
 *
 * Args: role hubIp relayPort token stunServer privateKeyHex peerPublicKeyHex
 * @module
 */
import { hexToBytes, makeUdpOffer } from "../../lib/protocol/mod.ts";
import { type SignalSocket, wireguardEngine } from "../../lib/session/mod.ts";
import { sessionBind, type TieredBind } from "../../lib/transport/mod.ts";

const [role, hubIp, relayPort, token, stun, privHex, peerHex] = Deno.args;
const out = (o: unknown) => console.log(JSON.stringify(o));
const ws: { onBinary: ((f: Uint8Array) => void) | null } = { onBinary: null };
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const sock = {
  open: true,
  bufferedAmount: 0,
  onBinary: (h: (f: Uint8Array) => void) => (ws.onBinary = h),
  sendBinary: (f: Uint8Array) => out({ t: "bin", b: b64(f) }),
  sendJson: (msg: unknown) => out({ t: "text", msg }),
  sendText: () => {},
};
const bind = sessionBind({ timings: { suspectMs: 2000 } })(
  sock as unknown as SignalSocket,
  {
    role: role as "agent" | "client",
    hubUrl: `ws://${hubIp}:1`,
    log: { info: (m) => out({ t: "log", m }), warn: (m) => out({ t: "log", m }), debug: () => {} },
    stunServers: [stun],
    onTransport: (transport) => out({ t: "state", transport }),
  },
) as TieredBind;
const isAgent = role === "agent";
const stack = wireguardEngine({
  privateKey: hexToBytes(privHex),
  peerPublicKey: hexToBytes(peerHex),
  localAddress: isAgent ? "10.77.1.1" : "10.77.1.2",
  peerAddress: isAgent ? "10.77.1.2" : "10.77.1.1",
  mtu: 1100,
  bind,
  persistentKeepaliveSeconds: isAgent ? 0 : 25,
});
bind.signal(makeUdpOffer(Number(relayPort), token));
if (isAgent) {
  const l = stack.listen(7);
  (async () => {
    for (;;) {
      const c = await l.accept();
      c.readable.pipeTo(c.writable).catch(() => {});
    }
  })();
}

async function echo(total: number): Promise<number> {
  const conn = await stack.dial("10.77.1.1", 7);
  let got = 0;
  const reader = (async () => {
    for await (const b of conn.readable) {
      got += b.length;
      if (got >= total) break;
    }
  })();
  const w = conn.writable.getWriter();
  for (let sent = 0; sent < total; sent += 16384) await w.write(new Uint8Array(16384));
  await reader;
  conn.abort();
  return got;
}

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let rest = "";
for await (const chunk of lines) {
  rest += chunk;
  let i;
  while ((i = rest.indexOf("\n")) >= 0) {
    const line = rest.slice(0, i);
    rest = rest.slice(i + 1);
    if (!line) continue;
    const m = JSON.parse(line);
    if (m.t === "bin") ws.onBinary?.(unb64(m.b));
    else if (m.t === "text") bind.signal(m.msg);
    else if (m.t === "go") {
      const t0 = performance.now();
      echo(m.total).then((got) =>
        out({
          t: "done",
          got,
          ms: Math.round(performance.now() - t0),
          transport: bind.transport,
          direct: bind.direct?.tx ?? 0,
          relay: bind.udpRelay?.tx ?? 0,
          reflexive: bind.reflexiveAddress,
        })
      );
    } else if (m.t === "stats") {
      const sock = bind.udpRelay?.sock;
      out({
        t: "stats",
        transport: bind.transport,
        direct: { tx: bind.direct?.tx, rx: bind.direct?.rx },
        relay: { tx: bind.udpRelay?.tx, rx: bind.udpRelay?.rx },
        sendDrops: sock?.sendDrops,
        sendErrors: sock?.sendErrors,
        pending: sock?.pendingSends,
      });
    } else if (m.t === "quit") {
      stack.close();
      Deno.exit(0);
    }
  }
}
