/**
 * The stack's IPv4 egress (RFC 791): wraps each TCP segment a socket or the stack emits in
 * an IPv4 header and hands the packet to the device's output. One preallocated buffer of
 * MTU octets is reused for every packet, so sending allocates nothing.
 * @module
 */
import { IpProtocol, IPV4_HEADER_LEN, Ipv4Packet } from "./wire/ipv4.ts";
import type { TcpRepr } from "./wire/tcp.ts";

/** Builds IPv4 packets from our address in one buffer and hands them to `output`. */
export class Ipv4Egress {
  /** Our address, unsigned 32-bit. */
  readonly source: number;
  /**
   * Receives each packet; the view is valid only during the call (the buffer is reused).
   * Replaceable, so a test can watch or hold back what the stack sends.
   */
  output: (packet: Uint8Array) => void;
  readonly #buffer: Uint8Array;
  readonly #views: Uint8Array[] = [];
  readonly #ip = new Ipv4Packet();
  #ident = 0;

  /**
   * @param source our address, unsigned 32-bit.
   * @param mtu the largest packet in octets, IPv4 header included (the tunnel MTU).
   * @param output receives each packet, see {@link Ipv4Egress.output}.
   */
  constructor(source: number, mtu: number, output: (packet: Uint8Array) => void) {
    this.source = source;
    this.output = output;
    this.#buffer = new Uint8Array(mtu);
    this.#ip.wrap(this.#buffer);
  }

  /**
   * Sends `segment` to `destination` in one IPv4 packet (RFC 791 §3.1: DF set, TTL 64,
   * the next identification; RFC 9293 §3.1 checksum over the pseudo-header).
   * The segment must fit the MTU (not checked here, on the per-packet path): the socket
   * sizes its payload to MTU - 40 - options.
   * @param destination the peer's address, unsigned 32-bit.
   * @param segment the segment's fields and payload source; read, not kept.
   */
  sendTcp(destination: number, segment: TcpRepr): void {
    const length = segment.emit(this.#buffer, IPV4_HEADER_LEN, this.source, destination);
    this.#ip.emitHeader(this.source, destination, IpProtocol.TCP, length, this.#ident);
    this.#ident = (this.#ident + 1) & 0xffff;
    this.output(this.#view(IPV4_HEADER_LEN + length));
  }

  /** A cached view of the first `length` octets of the buffer (no allocation after warm-up). */
  #view(length: number): Uint8Array {
    return this.#views[length] ??= this.#buffer.subarray(0, length);
  }
}
