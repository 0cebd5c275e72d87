/**
 * The real tunnel engine: lib/wireguard's `Device` over the session's relay bind, and
 * lib/netstack's `NetStack` on the tunnel address, wired as the interfaces document says
 * (`stack.output → device.sendPacket`, `device.onPacket → stack.input`).
 * @module
 */
import { type Bind, Device } from "../wireguard/mod.ts";
import { NetStack } from "../netstack/mod.ts";
import { turnClock } from "../clock/mod.ts";
import {
  PERSISTENT_KEEPALIVE_S,
  type SessionBind,
  type TransportKind,
  type TunnelEngine,
  type TunnelStack,
} from "./tunnel.ts";

/**
 * The largest IP packet our stack builds while the session's datagrams travel over the
 * WebSocket relay, in octets (the configured tunnel MTU still applies on UDP paths): the
 * largest multiple of 16 (WireGuard's padding) whose relay frame, 7 + 32 + 65024 = 65063
 * octets, fits our hub's relay limit (64 KiB + 7, lib/hub/relay.ts). Every packet costs
 * a WebSocket message, an AEAD call and a TCP segment in each process whatever its size, so
 * fewer, larger packets cut CPU per byte (side by side: 16384 → 65024 took CPU per GB from
 * 21.9 to 15.7 s).
 *
 * Why this is safe with every peer (spec §1.4, §8.6): the stack announces MSS
 * `WEBSOCKET_PATH_MTU - 40` in its SYN and SYN-ACK, which is the capability: a peer may send
 * segments up to that size, and RFC 9293 §3.7.1 bounds every sender by its own MTU too, so a
 * Go peer (gVisor, MTU 1100, MSS 1060) or the Linux kernel never sends us more than its own
 * MTU, and we never send a peer more than the MSS it announced (1060 for Go). Only two of our
 * own peers exchange larger packets, and only while the sender's path is the WebSocket
 * relay: a Go hub reads WebSocket messages of any size (gorilla's read limit is unset, spec
 * §1.2, §1.4) and ours relays frames up to 64 KiB + 7. When the bind moves to a UDP path,
 * segments are sized to the configured MTU again from the next one on (retransmissions
 * included), so UDP datagrams stay within the 1500-octet reads of Go peers.
 */
export const WEBSOCKET_PATH_MTU = 65024;

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
  const bind = o.bind as Bind & { readonly transport?: TransportKind };
  const stackMtu = Math.max(o.mtu, WEBSOCKET_PATH_MTU);
  const pathMtu = () => {
    const t = bind.transport;
    return t === undefined || t === "websocket" ? stackMtu : o.mtu;
  };
  const device = new Device({
    privateKey: o.privateKey,
    bind: o.bind,
    clock: turnClock,
    onPacket: (ip: Uint8Array) => stack?.input(ip),
    onHandshake: o.persistentKeepaliveSeconds > 0 ? undefined : (peer) => {
      if (peer.persistentKeepaliveSeconds === 0) {
        peer.persistentKeepaliveSeconds = PERSISTENT_KEEPALIVE_S;
      }
    },
  });
  stack = new NetStack({
    address: o.localAddress,
    mtu: stackMtu,
    pathMtu,
    // Every packet reached the stack through WireGuard's AEAD: its tag covers each octet.
    verifyChecksums: false,
    clock: turnClock,
    output: (ip: Uint8Array) => device.sendPacket(ip),
  });
  const peer = device.addPeer({
    publicKey: o.peerPublicKey,
    allowedIPs: [`${o.peerAddress}/32`],
    endpoint: "ws",
    ...(o.persistentKeepaliveSeconds > 0
      ? { persistentKeepaliveSeconds: o.persistentKeepaliveSeconds }
      : {}),
  });
  (o.bind as SessionBind).attachPeer?.({
    endpoint: () => peer.endpoint,
    sendKeepalive: () => peer.sendKeepalive(),
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
