/**
 * A pcap writer (the classic libpcap format, microsecond timestamps) with link type
 * LINKTYPE_RAW (101): each record is one raw IPv4 packet, which Wireshark and tcpdump read.
 * @module
 */

/** LINKTYPE_RAW: packets begin with the IP header. */
export const LINKTYPE_RAW = 101;

/** Collects packets in memory; {@link bytes} or {@link save} produce the file. */
export class PcapWriter {
  #chunks: Uint8Array[] = [];
  #size = 0;
  readonly snapLength: number;
  readonly maxBytes: number;
  /** Packets recorded. */
  count = 0;
  /** Packets not recorded because the capture reached `maxBytes`. */
  skipped = 0;

  /**
   * @param snapLength octets kept of each packet (default 65535).
   * @param maxBytes the capture stops growing at this many octets (default unbounded).
   */
  constructor(snapLength = 65535, maxBytes = Infinity) {
    this.snapLength = snapLength;
    this.maxBytes = maxBytes;
    const h = new Uint8Array(24);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0xa1b2c3d4, true); // magic, microsecond resolution
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, snapLength, true);
    v.setUint32(20, LINKTYPE_RAW, true);
    this.#add(h);
  }

  /** Records `packet` (copied) at time `timeMs` (milliseconds since any origin). */
  record(packet: Uint8Array, timeMs: number): void {
    if (this.#size >= this.maxBytes) {
      this.skipped++;
      return;
    }
    const incl = Math.min(packet.length, this.snapLength);
    const rec = new Uint8Array(16 + incl);
    const v = new DataView(rec.buffer);
    const us = Math.max(0, Math.round(timeMs * 1000));
    v.setUint32(0, Math.floor(us / 1e6), true);
    v.setUint32(4, us % 1e6, true);
    v.setUint32(8, incl, true);
    v.setUint32(12, packet.length, true);
    rec.set(packet.subarray(0, incl), 16);
    this.#add(rec);
    this.count++;
  }

  #add(b: Uint8Array): void {
    this.#chunks.push(b);
    this.#size += b.length;
  }

  /** The whole file so far. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#size);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  /** Writes the file to `path` (temp file + rename, so a reader never sees half of it). */
  async save(path: string): Promise<void> {
    const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeFile(tmp, this.bytes());
    await Deno.rename(tmp, path);
  }
}
