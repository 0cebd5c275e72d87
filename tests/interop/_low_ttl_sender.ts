/**
 * Runs inside a test's network namespace (see low_ttl_test.ts): sends one TPUNCH from a
 * path socket with IP TTL 2 and one normal TPUNCH to 127.0.0.1:<port>, then checks that
 * the path socket still receives after its TTL helper socket closed. Prints one JSON line.
 * @module
 */
import { UdpPathSocket } from "../../lib/transport/udp_relay.ts";
import { TPUNCH } from "../../lib/transport/direct.ts";

const port = Number(Deno.args[0]);
const rx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
const sock = new UdpPathSocket();
const mainGot: string[] = [];
sock.onDatagram = (d) => mainGot.push(new TextDecoder().decode(d));
const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
const sentLow = await sock.sendLowTtl(TPUNCH, to, 2);
sock.sendTo(TPUNCH, to);
const sources: number[] = [];
for (let i = 0; i < 2; i++) {
  const [, from] = await rx.receive();
  sources.push((from as Deno.NetAddr).port);
}
await rx.send(new TextEncoder().encode("after"), {
  transport: "udp",
  hostname: "127.0.0.1",
  port: sock.port,
});
const end = performance.now() + 3000;
while (mainGot.length === 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify({ sentLow, sources, pathPort: sock.port, mainGot }));
sock.close();
rx.close();
