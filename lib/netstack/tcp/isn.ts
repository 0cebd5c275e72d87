/**
 * Initial sequence numbers per RFC 6528 section 3: `ISN = M + F(localip, localport,
 * remoteip, remoteport, secretkey)`, where M is a timer ticking every 4 µs and F a keyed
 * hash (here BLAKE2s, RFC 7693) under a secret chosen once per stack.
 * @module
 */
import { keyedHash } from "../../crypto/mod.ts";

/** Generates RFC 6528 initial sequence numbers for one stack. */
export class IsnGenerator {
  readonly #secret: Uint8Array;
  readonly #now: () => number;
  readonly #input = new Uint8Array(12);
  readonly #view = new DataView(this.#input.buffer);

  /**
   * @param now milliseconds, monotonic (the stack's clock).
   * @param secret 32 octets; random when omitted (tests pass one to replay a run).
   */
  constructor(now: () => number, secret?: Uint8Array) {
    this.#now = now;
    this.#secret = secret ?? crypto.getRandomValues(new Uint8Array(32));
  }

  /** The ISN for a connection's 4-tuple; addresses are unsigned 32-bit numbers. */
  next(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
    const v = this.#view;
    v.setUint32(0, localAddr);
    v.setUint16(4, localPort);
    v.setUint32(6, remoteAddr);
    v.setUint16(10, remotePort);
    const f = keyedHash(this.#secret, this.#input, 4);
    const m = Math.floor(this.#now() * 250); // 4 µs ticks
    return (((f[0] << 24) | (f[1] << 16) | (f[2] << 8) | f[3]) + m) >>> 0;
  }
}
