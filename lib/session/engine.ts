/**
 * The real tunnel engine: lib/wireguard's `Device` over the session's relay bind, and
 * lib/netstack's `NetStack` on the tunnel address, wired as the interfaces document says
 * (`stack.output → device.sendPacket`, `device.onPacket → stack.input`).
 * @module
 */
import { Device } from "../wireguard/mod.ts";
import { NetStack } from "../netstack/mod.ts";
import { PERSISTENT_KEEPALIVE_S, type TunnelEngine, type TunnelStack } from "./tunnel.ts";

/**
 * Builds WireGuard + netstack for one session (spec session-and-relay.md §8.2).
 *
 * A device started with persistent keepalive 0 (the agent: it leaves the first handshake
 * to the client) turns the spec's 25 s on once a handshake has completed, when two
 * initiations can no longer cross; from then on it runs as a Go agent does (§8.2). The
 * UDP paths need it: an idle session must still carry a datagram each way every 25 s
 * (NAT bindings, and a Go peer's 60 s UDP health rule, §7.1).
 */
export const wireguardEngine: TunnelEngine = (o) => {
  let stack: NetStack | null = null;
  const device = new Device({
    privateKey: o.privateKey,
    bind: o.bind,
    onPacket: (ip: Uint8Array) => stack?.input(ip),
    onHandshake: o.persistentKeepaliveSeconds > 0 ? undefined : (peer) => {
      if (peer.persistentKeepaliveSeconds === 0) {
        peer.persistentKeepaliveSeconds = PERSISTENT_KEEPALIVE_S;
      }
    },
  });
  stack = new NetStack({
    address: o.localAddress,
    mtu: o.mtu,
    output: (ip: Uint8Array) => device.sendPacket(ip),
  });
  device.addPeer({
    publicKey: o.peerPublicKey,
    allowedIPs: [`${o.peerAddress}/32`],
    endpoint: "ws",
    ...(o.persistentKeepaliveSeconds > 0
      ? { persistentKeepaliveSeconds: o.persistentKeepaliveSeconds }
      : {}),
  });
  const s = stack;
  const tunnelStack: TunnelStack = {
    dial: (address, port) => s.dial(address, port),
    listen: (port) => s.listen(port),
    close() {
      s.close();
      device.close();
    },
  };
  return tunnelStack;
};
