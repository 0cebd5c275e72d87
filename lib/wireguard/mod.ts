/**
 * Tela's WireGuard engine (the WireGuard whitepaper, §5-§6), interoperable with
 * wireguard-go and the kernel. A {@link Device} with peers moves IP packets through
 * callbacks and datagrams through a pluggable {@link Bind}.
 *
 * @example
 * ```ts
 * import { Device, generateKeyPair, UdpBind, udpEndpoint } from "./mod.ts";
 * const me = generateKeyPair(), them = generateKeyPair();
 * const dev = new Device({ privateKey: me.privateKey, bind: new UdpBind(), onPacket: (ip) => {} });
 * dev.addPeer({ publicKey: them.publicKey, allowedIPs: ["10.77.1.1/32"],
 *               endpoint: udpEndpoint("127.0.0.1", 51820), persistentKeepaliveSeconds: 25 });
 * dev.close();
 * ```
 * @module
 */
export type { Bind, BindEndpoint } from "./bind.ts";
export { TRANSPORT_HEADROOM } from "./bind.ts";
export { Device } from "./device.ts";
export type { DeviceOptions, DeviceStats, DropReason } from "./device.ts";
export { Peer } from "./peer.ts";
export type { PeerOptions, PeerStats } from "./peer.ts";
export { UdpBind, UdpBindError, udpEndpoint } from "./udp_bind.ts";
export type { UdpBindOptions, UdpEndpoint } from "./udp_bind.ts";
export { MemoryBind, memoryBindPair } from "./memory_bind.ts";
export type { WireFilter } from "./memory_bind.ts";
export {
  generateKeyPair,
  generatePresharedKey,
  InvalidKeyError,
  KEY_SIZE,
  keyFromBase64,
  keyFromHex,
  keyToBase64,
  keyToHex,
  parseKey,
  publicKeyFromPrivate,
} from "./keys.ts";
export type { KeyPair } from "./keys.ts";
export { formatIp, InvalidPrefixError, parseIp, parsePrefix } from "./allowed_ips.ts";
export * as constants from "./constants.ts";
export type { Limits } from "./constants.ts";
