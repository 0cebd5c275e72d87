/**
 * A user-space TCP/IPv4 stack (RFC 791, RFC 9293 with RFC 7323, 2018, 6675, 6298, 5681,
 * 6582, 9438, 5961, 6528): what `tela` and `telad` run inside a WireGuard tunnel.
 *
 * A {@link NetStack} is bound to one address. Outgoing IPv4 packets leave through its
 * `output` callback and incoming ones are handed to {@link NetStack.input}, so a
 * WireGuard device plugs straight in. Connections are web streams with backpressure.
 *
 * @example
 * ```ts
 * import { NetStack } from "./mod.ts";
 * let b: NetStack;
 * const a = new NetStack({ address: "10.0.0.1", output: (p) => b.input(p.slice()) });
 * b = new NetStack({ address: "10.0.0.2", output: (p) => a.input(p.slice()) });
 * const listener = b.listen(7);
 * const [conn, peer] = await Promise.all([a.dial("10.0.0.2", 7), listener.accept()]);
 * const w = conn.writable.getWriter();
 * await w.write(new TextEncoder().encode("hi"));
 * const { value } = await peer.readable.getReader().read();
 * console.log(new TextDecoder().decode(value)); // "hi"
 * a.close();
 * b.close();
 * ```
 * @module
 */
export {
  AddressInUseError,
  EPHEMERAL_PORT_FIRST,
  EPHEMERAL_PORT_LAST,
  NetStack,
  NoPortAvailableError,
  TcpListener,
} from "./stack.ts";
export type { NetStackDropReason, NetStackOptions, NetStackStats } from "./stack.ts";
export type { TcpAddress, TcpConn } from "./connection.ts";
export type { KeepaliveOptions, TcpOptionsConfig } from "./tcp/config.ts";
export {
  ConnectionAbortedError,
  ConnectionRefusedError,
  ConnectionResetError,
  ConnectionTimeoutError,
  TcpState,
} from "./tcp/socket.ts";
export type { TcpStats } from "./tcp/socket.ts";
export { formatIpv4, InvalidAddressError, parseIpv4 } from "./wire/address.ts";
