/**
 * A tiny STUN server for tests (RFC 5389 §6-§7, §15.2): answers every Binding Request on a
 * loopback UDP port with a Binding Success Response carrying the request's source address as
 * XOR-MAPPED-ADDRESS (IPv4 only, like the spec's direct path, session-and-relay.md §6.1).
 * Anything else is ignored.
 * @module
 */

/** RFC 5389 §6: the magic cookie of every STUN message. */
const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const XOR_MAPPED_ADDRESS = 0x0020;

/** A running responder: its port, how many requests it answered, and how to stop it. */
export interface StunResponder {
  port: number;
  /** `127.0.0.1:<port>`, as `-stun` takes it. */
  address: string;
  /** Binding Requests answered so far. */
  answered: number;
  close(): void;
}

/**
 * The Binding Success Response to `request` for a client seen at `from` (RFC 5389 §7.3.1,
 * §15.2): header (type 0x0101, length 12, cookie, the request's transaction id) and one
 * XOR-MAPPED-ADDRESS attribute (family 0x01, port XOR 0x2112, address XOR the cookie).
 * @returns null when `request` is not a Binding Request with the magic cookie.
 */
export function bindingResponse(request: Uint8Array, from: Deno.NetAddr): Uint8Array | null {
  if (request.length < 20) return null;
  const rv = new DataView(request.buffer, request.byteOffset, request.byteLength);
  if (rv.getUint16(0) !== BINDING_REQUEST || rv.getUint32(4) !== MAGIC_COOKIE) return null;
  const octets = from.hostname.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255))) return null;
  const out = new Uint8Array(32);
  const v = new DataView(out.buffer);
  v.setUint16(0, BINDING_SUCCESS);
  v.setUint16(2, 12);
  v.setUint32(4, MAGIC_COOKIE);
  out.set(request.subarray(8, 20), 8);
  v.setUint16(20, XOR_MAPPED_ADDRESS);
  v.setUint16(22, 8);
  v.setUint8(24, 0);
  v.setUint8(25, 0x01);
  v.setUint16(26, from.port ^ (MAGIC_COOKIE >>> 16));
  const ip = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  v.setUint32(28, (ip ^ MAGIC_COOKIE) >>> 0);
  return out;
}

/** Starts a responder on 127.0.0.1 (a free port). Close it when done. */
export function startStunResponder(): StunResponder {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (conn.addr as Deno.NetAddr).port;
  const r: StunResponder = {
    port,
    address: `127.0.0.1:${port}`,
    answered: 0,
    close: () => {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
  (async () => {
    const buf = new Uint8Array(1500);
    for (;;) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await conn.receive(buf);
      } catch {
        return; // closed
      }
      const reply = bindingResponse(got[0], got[1] as Deno.NetAddr);
      if (!reply) continue;
      r.answered++;
      await conn.send(reply, got[1]).catch(() => {});
    }
  })();
  return r;
}
