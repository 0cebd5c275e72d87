/**
 * The real tunnel engine: lib/wireguard's `Device` over the session's relay bind, and
 * lib/netstack's `NetStack` on the tunnel address, wired as the interfaces document says
 * (`stack.output → device.sendPacket`, `device.onPacket → stack.input`).
 * @module
 */
import { Device } from "../wireguard/mod.ts";
import { NetStack } from "../netstack/mod.ts";
import { turnClock } from "../clock/mod.ts";
import type { TunnelEngine, TunnelStack } from "./tunnel.ts";

/** Builds WireGuard + netstack for one session (spec session-and-relay.md §8.2). */
export const wireguardEngine: TunnelEngine = (o) => {
  let stack: NetStack | null = null;
  const device = new Device({
    privateKey: o.privateKey,
    bind: o.bind,
    clock: turnClock,
    onPacket: (ip: Uint8Array) => stack?.input(ip),
  });
  stack = new NetStack({
    address: o.localAddress,
    mtu: o.mtu,
    clock: turnClock,
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
