/**
 * TCP header (RFC 9293 section 3.1) and options: MSS (RFC 9293 3.7.1), window scale and
 * timestamps (RFC 7323), SACK-permitted and SACK blocks (RFC 2018).
 *
 * {@link TcpSegment} is a zero-copy view; {@link TcpOptions} is a reusable struct the view
 * parses options into, so receiving a segment allocates nothing. {@link TcpRepr} is the
 * parsed representation (smoltcp's `TcpRepr`): {@link TcpRepr.parse} fills it from a view,
 * {@link TcpRepr.emit} writes it, options, payload and checksum into a buffer. Senders keep
 * one repr and refill it per segment, so emitting allocates nothing either.
 *
 * @example
 * ```ts
 * import { TcpFlags, TcpRepr, TcpSegment } from "./tcp.ts";
 * const repr = new TcpRepr();
 * repr.sourcePort = 49152;
 * repr.destinationPort = 80;
 * repr.seq = 1000;
 * repr.flags = TcpFlags.SYN;
 * repr.window = 65535;
 * repr.options.mss = 1460;
 * const buffer = new Uint8Array(60);
 * const length = repr.emit(buffer, 0, 0x0a000001, 0x0a000002); // 10.0.0.1 -> 10.0.0.2
 * const back = new TcpRepr();
 * back.parse(new TcpSegment().wrap(buffer, 0, length));
 * console.log(back.options.mss, length); // 1460 24
 * ```
 * @module
 */
import { fold, sum16 } from "./checksum.ts";
import { IpProtocol } from "./ipv4.ts";

/** Length in octets of a TCP header without options. */
export const TCP_HEADER_LEN = 20;

/** Control bits. */
export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
} as const;

/** Option kinds. */
export const TcpOptionKind = {
  END: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

/** Maximum SACK blocks we parse or emit in one segment (40 octets of options fit 4). */
export const MAX_SACK_BLOCKS = 4;

/**
 * Options of one segment, parsed or to emit; absent options are -1 / false. Reused between
 * segments.
 */
export class TcpOptions {
  /** Maximum segment size in octets, or -1. */
  mss = -1;
  /** Window scale shift count, or -1. */
  windowScale = -1;
  sackPermitted = false;
  timestamps = false;
  tsVal = 0;
  tsEcr = 0;
  /** Number of SACK blocks in {@link sackBlocks}. */
  sackCount = 0;
  /** SACK blocks as [left0, right0, left1, right1, ...] wire sequence numbers. */
  readonly sackBlocks = new Array<number>(MAX_SACK_BLOCKS * 2).fill(0);

  /** Clears every option (a segment without options). */
  reset(): void {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.timestamps = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }
}

/** Where an emitted segment's payload is copied from (a ring buffer, a received segment). */
export interface PayloadSource {
  /** Copies `length` octets starting `offset` octets into the source to `target[targetOffset..]`. */
  readAt(offset: number, target: Uint8Array, targetOffset: number, length: number): void;
}

/** A view over the bytes of one TCP segment (header + payload), starting at `offset`. */
export class TcpSegment implements PayloadSource {
  buffer: Uint8Array = new Uint8Array(0);
  offset = 0;
  /** Segment length in octets (header + payload). */
  length = 0;

  /** Points the view at `buffer[offset, offset + length)` without copying. */
  wrap(buffer: Uint8Array, offset: number, length: number): this {
    this.buffer = buffer;
    this.offset = offset;
    this.length = length;
    return this;
  }

  get sourcePort(): number {
    const o = this.offset;
    return (this.buffer[o] << 8) | this.buffer[o + 1];
  }
  get destinationPort(): number {
    const o = this.offset;
    return (this.buffer[o + 2] << 8) | this.buffer[o + 3];
  }
  /** SEG.SEQ, unsigned 32-bit. */
  get seq(): number {
    const b = this.buffer, o = this.offset;
    return ((b[o + 4] << 24) | (b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]) >>> 0;
  }
  /** SEG.ACK, unsigned 32-bit. */
  get ack(): number {
    const b = this.buffer, o = this.offset;
    return ((b[o + 8] << 24) | (b[o + 9] << 16) | (b[o + 10] << 8) | b[o + 11]) >>> 0;
  }
  /** Data offset in octets (header length including options). */
  get headerLength(): number {
    return (this.buffer[this.offset + 12] >> 4) * 4;
  }
  get flags(): number {
    return this.buffer[this.offset + 13] & 0x3f;
  }
  /** SEG.WND as carried (unscaled). */
  get window(): number {
    const o = this.offset;
    return (this.buffer[o + 14] << 8) | this.buffer[o + 15];
  }
  get checksumField(): number {
    const o = this.offset;
    return (this.buffer[o + 16] << 8) | this.buffer[o + 17];
  }
  /** Offset of the payload in `buffer`. */
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  /** Payload length in octets. */
  get payloadLength(): number {
    return this.length - this.headerLength;
  }

  /** Copies payload octets `[offset, offset + length)` to `target[targetOffset..]`. */
  readAt(offset: number, target: Uint8Array, targetOffset: number, length: number): void {
    const start = this.payloadOffset + offset;
    target.set(this.buffer.subarray(start, start + length), targetOffset);
  }

  /** True when the header fits the segment (data offset ≥ 20 and ≤ length). */
  wellFormed(): boolean {
    if (this.length < TCP_HEADER_LEN) return false;
    const hl = this.headerLength;
    return hl >= TCP_HEADER_LEN && hl <= this.length;
  }

  /** Verifies the checksum over the pseudo-header (RFC 9293 3.1) and the segment. */
  verifyChecksum(source: number, destination: number): boolean {
    const acc = pseudoHeaderSum(source, destination, this.length);
    return fold(sum16(this.buffer, this.offset, this.offset + this.length, acc)) === 0;
  }

  /**
   * Parses the options into `out` (reset first). Returns false for a malformed option list
   * (a length byte that is < 2 or runs past the header), which the caller drops.
   */
  parseOptions(out: TcpOptions): boolean {
    out.reset();
    const b = this.buffer;
    let i = this.offset + TCP_HEADER_LEN;
    const end = this.offset + this.headerLength;
    while (i < end) {
      const kind = b[i];
      if (kind === TcpOptionKind.END) break;
      if (kind === TcpOptionKind.NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) return false;
      const len = b[i + 1];
      if (len < 2 || i + len > end) return false;
      switch (kind) {
        case TcpOptionKind.MSS:
          if (len === 4) out.mss = (b[i + 2] << 8) | b[i + 3];
          break;
        case TcpOptionKind.WINDOW_SCALE:
          if (len === 3) out.windowScale = Math.min(b[i + 2], 14); // RFC 7323 2.3: cap at 14
          break;
        case TcpOptionKind.SACK_PERMITTED:
          if (len === 2) out.sackPermitted = true;
          break;
        case TcpOptionKind.TIMESTAMPS:
          if (len === 10) {
            out.timestamps = true;
            out.tsVal = read32(b, i + 2);
            out.tsEcr = read32(b, i + 6);
          }
          break;
        case TcpOptionKind.SACK: {
          const n = Math.min((len - 2) >> 3, MAX_SACK_BLOCKS);
          for (let k = 0; k < n; k++) {
            out.sackBlocks[2 * k] = read32(b, i + 2 + 8 * k);
            out.sackBlocks[2 * k + 1] = read32(b, i + 6 + 8 * k);
          }
          out.sackCount = n;
          break;
        }
      }
      i += len;
    }
    return true;
  }
}

function read32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

function write32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = (v >>> 16) & 255;
  b[i + 2] = (v >>> 8) & 255;
  b[i + 3] = v & 255;
}

/**
 * The unfolded one's-complement sum of the TCP pseudo-header (RFC 9293 §3.1: source and
 * destination address, zero, protocol 6, TCP length) for a segment of `tcpLength` octets.
 * @param source our address, unsigned 32-bit.
 * @param destination the peer's address, unsigned 32-bit.
 * @param tcpLength header plus payload, in octets.
 */
export function pseudoHeaderSum(source: number, destination: number, tcpLength: number): number {
  return (source >>> 16) + (source & 0xffff) + (destination >>> 16) + (destination & 0xffff) +
    IpProtocol.TCP + tcpLength;
}

/**
 * Length in octets the options in `o` take when emitted (a multiple of 4, RFC 9293 §3.1
 * Data Offset), in the layout {@link TcpRepr.emit} writes (MSS, RFC 7323 window scale and
 * timestamps, RFC 2018 SACK).
 */
export function optionsLength(o: TcpOptions): number {
  let n = 0;
  if (o.mss >= 0) n += 4;
  if (o.windowScale >= 0) n += 4; // NOP + WS(3)
  if (o.timestamps) n += 12; // NOP NOP TS(10), also carries SACK-permitted on SYN as below
  if (o.sackPermitted && !o.timestamps) n += 4; // NOP NOP SACKOK
  if (o.sackCount > 0) n += 4 + 8 * o.sackCount; // NOP NOP SACK
  return n;
}

/**
 * A TCP segment as fields (RFC 9293 3.1): what a socket fills in to send and what
 * {@link TcpRepr.parse} reads from a received segment. Sequence and acknowledgment numbers
 * are wire values (unsigned 32-bit); `window` is SEG.WND as carried (already shifted by the
 * window scale). The payload is not copied into the repr: {@link TcpRepr.emit} reads
 * `payloadLength` octets from `payload` at `payloadOffset`.
 */
export class TcpRepr {
  /** Source port, 0..65535. */
  sourcePort = 0;
  /** Destination port, 0..65535. */
  destinationPort = 0;
  /** SEG.SEQ on the wire. */
  seq = 0;
  /** SEG.ACK on the wire (meaningful with the ACK flag). */
  ack = 0;
  /** Control bits, see {@link TcpFlags}. */
  flags = 0;
  /** SEG.WND as carried, 0..65535. */
  window = 0;
  /** Options; reset() for a segment without any. */
  readonly options: TcpOptions = new TcpOptions();
  /** Where the payload is read from; null for none. */
  payload: PayloadSource | null = null;
  /** Offset of the payload in `payload`, in octets. */
  payloadOffset = 0;
  /** Payload length in octets. */
  payloadLength = 0;

  /** Header length in octets, options included. */
  get headerLength(): number {
    return TCP_HEADER_LEN + optionsLength(this.options);
  }

  /** Header plus payload, in octets. */
  get segmentLength(): number {
    return this.headerLength + this.payloadLength;
  }

  /**
   * Sets the payload to `length` octets of `source` from `offset` (null/0 for none). Not
   * copied: `source` must hold them until {@link TcpRepr.emit}.
   * @param source a received segment, or a socket's send buffer.
   * @param offset where the payload starts in `source`, in octets.
   * @param length payload length in octets.
   */
  setPayload(source: PayloadSource | null, offset: number, length: number): void {
    this.payload = source;
    this.payloadOffset = offset;
    this.payloadLength = length;
  }

  /**
   * Fills the repr from the segment `view` points at; the payload refers to the view's
   * buffer (valid while that buffer is). The checksum is not verified here (see
   * {@link TcpSegment.verifyChecksum}).
   * @param view a segment wrapped with {@link TcpSegment.wrap}.
   * @returns false for a malformed header or option list (the repr is then unspecified).
   */
  parse(view: TcpSegment): boolean {
    if (!view.wellFormed() || !view.parseOptions(this.options)) return false;
    this.sourcePort = view.sourcePort;
    this.destinationPort = view.destinationPort;
    this.seq = view.seq;
    this.ack = view.ack;
    this.flags = view.flags;
    this.window = view.window;
    this.setPayload(view, 0, view.payloadLength);
    return true;
  }

  /**
   * Writes the segment (header, options, payload, checksum over the RFC 9293 3.1
   * pseudo-header of `source` → `destination`) at `buffer[offset..]` and returns its length
   * in octets. The buffer must hold {@link segmentLength} octets from `offset`. Option
   * layouts follow what Linux sends, which every middlebox accepts.
   * @param buffer the packet buffer.
   * @param offset where the TCP header starts (after the IPv4 header), in octets.
   * @param source our address, unsigned 32-bit (for the pseudo-header).
   * @param destination the peer's address, unsigned 32-bit.
   * @returns the segment's length in octets.
   */
  emit(buffer: Uint8Array, offset: number, source: number, destination: number): number {
    const hl = emitHeader(this, buffer, offset);
    if (this.payloadLength > 0 && this.payload !== null) {
      this.payload.readAt(this.payloadOffset, buffer, offset + hl, this.payloadLength);
    }
    const length = hl + this.payloadLength;
    finishChecksum(buffer, offset, length, source, destination);
    return length;
  }
}

// Writes the header and options of `r` with a zero checksum; returns the header length.
function emitHeader(r: TcpRepr, b: Uint8Array, off: number): number {
  const o = r.options;
  b[off] = r.sourcePort >> 8;
  b[off + 1] = r.sourcePort & 255;
  b[off + 2] = r.destinationPort >> 8;
  b[off + 3] = r.destinationPort & 255;
  write32(b, off + 4, r.seq);
  write32(b, off + 8, r.ack);
  b[off + 13] = r.flags;
  b[off + 14] = r.window >> 8;
  b[off + 15] = r.window & 255;
  b[off + 16] = 0;
  b[off + 17] = 0;
  b[off + 18] = 0;
  b[off + 19] = 0;
  let i = off + TCP_HEADER_LEN;
  if (o.mss >= 0) {
    b[i] = TcpOptionKind.MSS;
    b[i + 1] = 4;
    b[i + 2] = o.mss >> 8;
    b[i + 3] = o.mss & 255;
    i += 4;
  }
  if (o.timestamps) {
    if (o.sackPermitted) {
      b[i] = TcpOptionKind.SACK_PERMITTED;
      b[i + 1] = 2;
    } else {
      b[i] = TcpOptionKind.NOP;
      b[i + 1] = TcpOptionKind.NOP;
    }
    b[i + 2] = TcpOptionKind.TIMESTAMPS;
    b[i + 3] = 10;
    write32(b, i + 4, o.tsVal);
    write32(b, i + 8, o.tsEcr);
    i += 12;
  } else if (o.sackPermitted) {
    b[i] = TcpOptionKind.NOP;
    b[i + 1] = TcpOptionKind.NOP;
    b[i + 2] = TcpOptionKind.SACK_PERMITTED;
    b[i + 3] = 2;
    i += 4;
  }
  if (o.windowScale >= 0) {
    b[i] = TcpOptionKind.NOP;
    b[i + 1] = TcpOptionKind.WINDOW_SCALE;
    b[i + 2] = 3;
    b[i + 3] = o.windowScale;
    i += 4;
  }
  if (o.sackCount > 0) {
    b[i] = TcpOptionKind.NOP;
    b[i + 1] = TcpOptionKind.NOP;
    b[i + 2] = TcpOptionKind.SACK;
    b[i + 3] = 2 + 8 * o.sackCount;
    i += 4;
    for (let k = 0; k < o.sackCount; k++) {
      write32(b, i, o.sackBlocks[2 * k]);
      write32(b, i + 4, o.sackBlocks[2 * k + 1]);
      i += 8;
    }
  }
  const hl = i - off;
  b[off + 12] = (hl / 4) << 4;
  return hl;
}

/**
 * Computes and stores the checksum of the segment `buffer[off, off + length)` (RFC 9293
 * §3.1: the 16-bit one's complement of the one's-complement sum of pseudo-header, header
 * and data; RFC 1071 for the computation). The checksum field must be zero on entry.
 * @param length the segment's length, header included, in octets.
 * @param source our address, unsigned 32-bit; `destination` likewise.
 */
export function finishChecksum(
  buffer: Uint8Array,
  off: number,
  length: number,
  source: number,
  destination: number,
): void {
  const c = fold(sum16(buffer, off, off + length, pseudoHeaderSum(source, destination, length)));
  buffer[off + 16] = c >> 8;
  buffer[off + 17] = c & 255;
}

/** Human-readable flags, e.g. "SYN,ACK" (for logs and tests). */
export function formatFlags(flags: number): string {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(TcpFlags)) if (flags & bit) names.push(name);
  return names.join(",");
}
