/**
 * The hub side of the NAT lab test, run in the "public" namespace: the real hub UDP relay
 * (lib/hub/udp_relay.ts) on `hubIp` and a STUN responder on `stunIp` (port 3478). Frames
 * the relay delivers on a side's WebSocket are printed as `{"t":"bin","to":role}` lines.
 * Prints `{"t":"ready","port","agent","client"}` first; exits on stdin EOF.
 * Args: hubIp stunIp
 * @module
 */
import { UdpRelay } from "../../lib/hub/udp_relay.ts";
import { encodeBindingResponse, isStunMessage } from "../../lib/transport/stun.ts";

const [hubIp, stunIp] = Deno.args;
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const relay = new UdpRelay();
const port = relay.start(hubIp, 0);
const sink = (to: string) => ({
  sendFrame: (f: Uint8Array) => console.log(JSON.stringify({ t: "bin", to, b: b64(f) })),
});
const pair = relay.createPair(sink("agent"), sink("client"));
const stun = Deno.listenDatagram({ transport: "udp", hostname: stunIp, port: 3478 });
(async () => {
  const buf = new Uint8Array(1500);
  for (;;) {
    let got: [Uint8Array, Deno.Addr];
    try {
      got = await stun.receive(buf);
    } catch {
      return;
    }
    const [d, from] = got;
    if (!isStunMessage(d)) continue;
    const a = from as Deno.NetAddr;
    await stun.send(encodeBindingResponse(d.slice(8, 20), a), a).catch(() => {});
  }
})();
console.log(JSON.stringify({ t: "ready", port, agent: pair.agent.hex, client: pair.client.hex }));
for await (const _ of Deno.stdin.readable) { /* until EOF */ }
relay.close();
stun.close();
