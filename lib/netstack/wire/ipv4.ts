/**
 * IPv4 header (RFC 791): a zero-copy view over packet bytes plus a small representation.
 *
 * The view never copies: {@link Ipv4Packet.wrap} points it at a buffer and the getters read
 * straight from it, so one view instance is reused for every packet on the hot path.
 * @module
 */
import { checksum } from "./checksum.ts";

/** IP protocol numbers we know about. */
export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17 } as const;

/** Length in octets of an IPv4 header without options. */
export const IPV4_HEADER_LEN = 20;

/** Why an incoming packet was refused by {@link Ipv4Packet.check}. */
export type Ipv4DropReason =
  | "truncated"
  | "version"
  | "badChecksum"
  | "fragment"
  | "options";

/** A view over the bytes of one IPv4 packet. Field units are octets unless stated. */
export class Ipv4Packet {
  buffer: Uint8Array = new Uint8Array(0);

  /** Points the view at `buffer` (no copy) and returns it. */
  wrap(buffer: Uint8Array): this {
    this.buffer = buffer;
    return this;
  }

  get version(): number {
    return this.buffer[0] >> 4;
  }
  /** Header length in octets (IHL * 4). */
  get headerLength(): number {
    return (this.buffer[0] & 0x0f) * 4;
  }
  get totalLength(): number {
    return (this.buffer[2] << 8) | this.buffer[3];
  }
  get ident(): number {
    return (this.buffer[4] << 8) | this.buffer[5];
  }
  get dontFragment(): boolean {
    return (this.buffer[6] & 0x40) !== 0;
  }
  get moreFragments(): boolean {
    return (this.buffer[6] & 0x20) !== 0;
  }
  /** Fragment offset in octets. */
  get fragmentOffset(): number {
    return (((this.buffer[6] & 0x1f) << 8) | this.buffer[7]) * 8;
  }
  get ttl(): number {
    return this.buffer[8];
  }
  get protocol(): number {
    return this.buffer[9];
  }
  get headerChecksum(): number {
    return (this.buffer[10] << 8) | this.buffer[11];
  }
  /** Source address as an unsigned 32-bit number. */
  get source(): number {
    const b = this.buffer;
    return ((b[12] << 24) | (b[13] << 16) | (b[14] << 8) | b[15]) >>> 0;
  }
  /** Destination address as an unsigned 32-bit number. */
  get destination(): number {
    const b = this.buffer;
    return ((b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19]) >>> 0;
  }
  /** Offset of the payload in `buffer`. */
  get payloadOffset(): number {
    return this.headerLength;
  }
  /** Payload length in octets (total length minus header length). */
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }

  /**
   * Validates the packet: version 4, lengths consistent with the buffer, header checksum,
   * not a fragment, options only NOP/EOL. Returns the reason to drop it, or null if good.
   */
  check(): Ipv4DropReason | null {
    const b = this.buffer;
    if (b.length < IPV4_HEADER_LEN) return "truncated";
    if (this.version !== 4) return "version";
    const hl = this.headerLength;
    const tl = this.totalLength;
    if (hl < IPV4_HEADER_LEN || tl < hl || tl > b.length) return "truncated";
    if (checksum(b, 0, hl) !== 0) return "badChecksum";
    if (this.moreFragments || (((b[6] & 0x1f) << 8) | b[7]) !== 0) return "fragment";
    for (let i = IPV4_HEADER_LEN; i < hl; i++) {
      const kind = b[i];
      if (kind === 0) break; // end of option list
      if (kind !== 1) return "options"; // anything but NOP is unsupported
    }
    return null;
  }

  /**
   * Writes a 20-octet header (no options, DF set) into `buffer[0..20)` and its checksum.
   * `payloadLength` in octets; addresses as unsigned 32-bit numbers.
   */
  emitHeader(
    source: number,
    destination: number,
    protocol: number,
    payloadLength: number,
    ident: number,
    ttl = 64,
  ): void {
    const b = this.buffer;
    const total = IPV4_HEADER_LEN + payloadLength;
    b[0] = 0x45;
    b[1] = 0;
    b[2] = total >> 8;
    b[3] = total & 255;
    b[4] = (ident >> 8) & 255;
    b[5] = ident & 255;
    b[6] = 0x40; // DF: we derive the MSS from the MTU and never fragment
    b[7] = 0;
    b[8] = ttl;
    b[9] = protocol;
    b[10] = 0;
    b[11] = 0;
    b[12] = source >>> 24;
    b[13] = (source >>> 16) & 255;
    b[14] = (source >>> 8) & 255;
    b[15] = source & 255;
    b[16] = destination >>> 24;
    b[17] = (destination >>> 16) & 255;
    b[18] = (destination >>> 8) & 255;
    b[19] = destination & 255;
    const c = checksum(b, 0, IPV4_HEADER_LEN);
    b[10] = c >> 8;
    b[11] = c & 255;
  }
}

/** A parsed IPv4 header, for tests and tools (the hot path uses {@link Ipv4Packet}). */
export interface Ipv4Repr {
  source: number;
  destination: number;
  protocol: number;
  ttl: number;
  ident: number;
  /** Payload length in octets. */
  payloadLength: number;
}

/** Parses a validated packet into a representation; returns null with the reason if bad. */
export function parseIpv4Repr(bytes: Uint8Array): Ipv4Repr | Ipv4DropReason {
  const v = new Ipv4Packet().wrap(bytes);
  const bad = v.check();
  if (bad) return bad;
  return {
    source: v.source,
    destination: v.destination,
    protocol: v.protocol,
    ttl: v.ttl,
    ident: v.ident,
    payloadLength: v.payloadLength,
  };
}

/** Emits `repr`'s header into `buffer` (at least 20 octets) and returns the header length. */
export function emitIpv4Repr(repr: Ipv4Repr, buffer: Uint8Array): number {
  new Ipv4Packet().wrap(buffer).emitHeader(
    repr.source,
    repr.destination,
    repr.protocol,
    repr.payloadLength,
    repr.ident,
    repr.ttl,
  );
  return IPV4_HEADER_LEN;
}
