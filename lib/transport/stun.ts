/**
 * STUN Binding (RFC 5389 §6, §7, §15.2) as the direct path uses it (spec
 * session-and-relay.md §6.1): a 20-octet Binding Request without attributes, and the
 * first IPv4 XOR-MAPPED-ADDRESS of a Binding Success Response. Pure codec functions plus
 * {@link stunQuery}, which asks the servers in turn over the path's own UDP socket (the
 * reflexive address belongs to that socket: nat-lab.md gotcha 3).
 * @module
 */
import { lookup } from "node:dns/promises";

/** RFC 5389 §6 magic cookie. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** Length of the STUN message header, octets (RFC 5389 §6). */
export const STUN_HEADER_LEN = 20;
/** Message type of a Binding Request. */
export const STUN_BINDING_REQUEST = 0x0001;
/** Message type of a Binding Success Response. */
export const STUN_BINDING_SUCCESS = 0x0101;
/** Attribute type XOR-MAPPED-ADDRESS (RFC 5389 §15.2). */
export const STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020;
/**
 * The STUN server asked when none is configured (spec §6.1); `tela connect -stun` and
 * `telad -stun` replace it.
 */
export const DEFAULT_STUN_SERVER = "stun.l.google.com:19302";
/** How long one server is waited for, in milliseconds (spec §6.1 step 3). */
export const STUN_TIMEOUT_MS = 3000;

/** An IPv4 transport address. */
export interface StunAddress {
  /** Dotted quad. */
  hostname: string;
  port: number;
}

/**
 * Builds a Binding Request: type 0x0001, length 0, the magic cookie and a 96-bit
 * transaction id (RFC 5389 §6).
 * @param txid 12 octets; random when omitted.
 * @returns the 20-octet request and its transaction id.
 * @throws {RangeError} when `txid` is not 12 octets.
 */
export function encodeBindingRequest(
  txid: Uint8Array = crypto.getRandomValues(new Uint8Array(12)),
): { request: Uint8Array; txid: Uint8Array } {
  if (txid.length !== 12) {
    throw new RangeError(`STUN transaction id must be 12 octets, got ${txid.length}`);
  }
  const request = new Uint8Array(STUN_HEADER_LEN);
  const v = new DataView(request.buffer);
  v.setUint16(0, STUN_BINDING_REQUEST);
  v.setUint16(2, 0);
  v.setUint32(4, STUN_MAGIC_COOKIE);
  request.set(txid, 8);
  return { request, txid };
}

/**
 * True when `d` looks like a STUN message: at least 20 octets and the magic cookie at
 * octets 4..7 (how the receive loop routes datagrams to STUN, spec §7.2 rule 2).
 */
export function isStunMessage(d: Uint8Array): boolean {
  return d.length >= STUN_HEADER_LEN && d[4] === 0x21 && d[5] === 0x12 && d[6] === 0xa4 &&
    d[7] === 0x42;
}

/**
 * Reads the reflexive address from a Binding Success Response (spec §6.1 step 4): type
 * 0x0101, cookie and transaction id match, the declared length fits; the attributes are
 * walked with 4-octet padding and the first XOR-MAPPED-ADDRESS (length ≥ 8) of family
 * IPv4 (0x01) is decoded (port XOR 0x2112, address XOR 0x2112A442). MAPPED-ADDRESS and
 * IPv6 are not supported, as in Go.
 * @param d the received datagram.
 * @param txid the request's transaction id.
 * @returns the address, or null when `d` is not such a response.
 */
export function parseBindingResponse(d: Uint8Array, txid: Uint8Array): StunAddress | null {
  if (!isStunMessage(d)) return null;
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  if (v.getUint16(0) !== STUN_BINDING_SUCCESS) return null;
  for (let i = 0; i < 12; i++) if (d[8 + i] !== txid[i]) return null;
  const length = v.getUint16(2);
  if (STUN_HEADER_LEN + length > d.length) return null;
  const end = STUN_HEADER_LEN + length;
  let at = STUN_HEADER_LEN;
  while (at + 4 <= end) {
    const type = v.getUint16(at);
    const len = v.getUint16(at + 2);
    const value = at + 4;
    if (value + len > end) return null;
    if (type === STUN_ATTR_XOR_MAPPED_ADDRESS && len >= 8 && d[value + 1] === 0x01) {
      const port = v.getUint16(value + 2) ^ 0x2112;
      const ip = (v.getUint32(value + 4) ^ STUN_MAGIC_COOKIE) >>> 0;
      return {
        hostname: `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`,
        port,
      };
    }
    at = value + ((len + 3) & ~3);
  }
  return null;
}

/**
 * Builds a Binding Success Response carrying one XOR-MAPPED-ADDRESS (for tests and the
 * test STUN responder; not used by the path).
 * @param txid the request's transaction id (12 octets).
 * @param addr the IPv4 reflexive address.
 */
export function encodeBindingResponse(txid: Uint8Array, addr: StunAddress): Uint8Array {
  const out = new Uint8Array(STUN_HEADER_LEN + 12);
  const v = new DataView(out.buffer);
  v.setUint16(0, STUN_BINDING_SUCCESS);
  v.setUint16(2, 12);
  v.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(txid, 8);
  v.setUint16(20, STUN_ATTR_XOR_MAPPED_ADDRESS);
  v.setUint16(22, 8);
  v.setUint16(24, 0x0001);
  v.setUint16(26, addr.port ^ 0x2112);
  const q = addr.hostname.split(".").map(Number);
  v.setUint32(28, (((q[0] << 24) | (q[1] << 16) | (q[2] << 8) | q[3]) ^ STUN_MAGIC_COOKIE) >>> 0);
  return out;
}

/**
 * Splits `host:port` (IPv6 literals in brackets).
 * @returns null when there is no valid port.
 */
export function splitHostPort(s: string): { host: string; port: number } | null {
  const i = s.lastIndexOf(":");
  if (i <= 0) return null;
  const port = Number(s.slice(i + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  let host = s.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return { host, port };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** True for a dotted-quad IPv4 literal. */
export function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

/**
 * Resolves a hostname to one IPv4 address (the system resolver, /etc/hosts included);
 * IPv4 literals are returned as they are.
 * @returns null when there is no IPv4 address.
 */
export async function resolveIPv4(host: string): Promise<string | null> {
  if (isIPv4(host)) return host;
  if (host.includes(":")) return null; // an IPv6 literal: the relay and STUN use IPv4
  try {
    const r = await lookup(host, { family: 4 });
    return isIPv4(r.address) ? r.address : null;
  } catch {
    return null;
  }
}

/** What {@link stunQuery} needs from the path's UDP socket. */
export interface StunSocket {
  /** Sends `d` (copied during the call) to `to`. */
  sendTo(d: Uint8Array, to: Deno.NetAddr): void;
  /**
   * Routes STUN messages that arrive on the socket to `handler` until it is replaced or
   * removed (null).
   */
  onStun(handler: ((d: Uint8Array) => void) | null): void;
}

/**
 * Asks STUN servers in turn for the socket's reflexive address (spec §6.1): each server
 * is resolved to IPv4, sent one Binding Request and waited for {@link STUN_TIMEOUT_MS}.
 * @param sock the path's UDP socket.
 * @param servers `host:port` entries, tried in order.
 * @param timeoutMs wait per server, in milliseconds.
 * @param signal aborts the query (resolves null).
 * @returns the first reflexive address and the server that answered, or null when none did.
 */
export async function stunQuery(
  sock: StunSocket,
  servers: string[],
  timeoutMs = STUN_TIMEOUT_MS,
  signal?: AbortSignal,
): Promise<{ address: StunAddress; server: string } | null> {
  for (const server of servers) {
    if (signal?.aborted) return null;
    const hp = splitHostPort(server);
    if (!hp) continue;
    const ip = await resolveIPv4(hp.host);
    if (!ip) continue;
    const { request, txid } = encodeBindingRequest();
    if (signal?.aborted) return null;
    const got = await new Promise<StunAddress | null>((resolve) => {
      const finish = (a: StunAddress | null) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        sock.onStun(null);
        resolve(a);
      };
      const onAbort = () => finish(null);
      const timer = setTimeout(() => finish(null), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      sock.onStun((d) => {
        const a = parseBindingResponse(d, txid);
        if (a) finish(a);
      });
      sock.sendTo(request, { transport: "udp", hostname: ip, port: hp.port });
    });
    if (got) return { address: got, server };
  }
  return null;
}
