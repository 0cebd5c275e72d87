/**
 * ChaCha20-Poly1305 (RFC 8439) written for the per-packet path: no allocation per call,
 * the key's words kept between calls, the cipher state in local variables, keystream
 * XORed a word at a time where the buffers allow it. Poly1305 uses ten 13-bit limbs
 * (the poly1305-donna-16 layout) so every product and sum stays an exact integer in a
 * JavaScript number.
 * @module
 */
import { KeyLengthError } from "./errors.ts";

const SIGMA0 = 0x61707865, SIGMA1 = 0x3320646e, SIGMA2 = 0x79622d32, SIGMA3 = 0x6b206574;

/** True on little-endian hosts, where a Uint32Array view reads ChaCha's words directly. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * One ChaCha20-Poly1305 key with its scratch state. Not re-entrant: one instance per
 * keypair direction, used by one caller at a time (as WireGuard's per-keypair use is).
 */
export class ChaChaPoly {
  /** Key words k0..k7 (little-endian). */
  readonly #k = new Uint32Array(8);
  /** Nonce words n0..n2 of the current call. */
  readonly #n = new Uint32Array(3);
  /** One keystream block. */
  readonly #block = new Uint32Array(16);
  readonly #blockBytes = new Uint8Array(this.#block.buffer);
  /** Poly1305 state: h (10 limbs), r (10 limbs), pad (8 × 16 bits). */
  readonly #h = new Uint16Array(10);
  readonly #r = new Uint16Array(10);
  readonly #pad = new Uint16Array(8);
  readonly #g = new Uint16Array(10);
  /** Partial Poly1305 block. */
  readonly #partial = new Uint8Array(16);
  readonly #lengths = new Uint8Array(16);
  /** The tag computed by open(), compared with the received one. */
  readonly #tag = new Uint8Array(16);

  /**
   * @param key 32 bytes.
   * @throws {KeyLengthError} for another length.
   */
  constructor(key: Uint8Array) {
    if (key.length !== 32) {
      throw new KeyLengthError(`ChaCha20-Poly1305 key must be 32 bytes, got ${key.length}`);
    }
    for (let i = 0; i < 8; i++) this.#k[i] = readLE32(key, 4 * i);
  }

  /**
   * Encrypts `plaintext` into `out[outOffset..]` as ciphertext ‖ tag (length + 16 octets);
   * returns the octets written. `out` must not overlap `plaintext` unless they start at
   * the same byte.
   */
  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array | undefined,
    out: Uint8Array,
    outOffset: number,
  ): number {
    const len = plaintext.length;
    this.#setNonce(nonce);
    this.#polyKey();
    if (out.buffer !== plaintext.buffer || out.byteOffset + outOffset !== plaintext.byteOffset) {
      out.set(plaintext, outOffset);
    }
    this.#xorStream(out, outOffset, len);
    this.#mac(ad, out, outOffset, len, out, outOffset + len);
    return len + 16;
  }

  /**
   * Authenticates `sealed` (ciphertext ‖ tag) and writes the plaintext to `out[outOffset..]`;
   * returns its length, or -1 when the tag does not verify (nothing useful is left in `out`).
   */
  open(
    nonce: Uint8Array,
    sealed: Uint8Array,
    ad: Uint8Array | undefined,
    out: Uint8Array,
    outOffset: number,
  ): number {
    if (sealed.length < 16) return -1;
    const len = sealed.length - 16;
    if (out.length - outOffset < len) return -1;
    this.#setNonce(nonce);
    this.#polyKey();
    // Copy first so the MAC and the XOR both run over `out` (usually aligned, unlike a
    // datagram behind a 7-byte relay header). The tag is compared from `sealed`.
    if (out.buffer !== sealed.buffer || out.byteOffset + outOffset !== sealed.byteOffset) {
      out.set(sealed.subarray(0, len), outOffset);
    }
    const tag = this.#tag;
    this.#mac(ad, out, outOffset, len, tag, 0);
    let diff = 0;
    for (let i = 0; i < 16; i++) diff |= tag[i] ^ sealed[len + i];
    if (diff !== 0) return -1;
    this.#xorStream(out, outOffset, len);
    return len;
  }

  #setNonce(nonce: Uint8Array): void {
    this.#n[0] = readLE32(nonce, 0);
    this.#n[1] = readLE32(nonce, 4);
    this.#n[2] = readLE32(nonce, 8);
  }

  /** Block 0 gives the one-time Poly1305 key (RFC 8439 2.6): r clamped, s as pad. */
  #polyKey(): void {
    this.#chachaBlock(0);
    const b = this.#block;
    const t0 = b[0] & 0xffff, t1 = b[0] >>> 16, t2 = b[1] & 0xffff, t3 = b[1] >>> 16;
    const t4 = b[2] & 0xffff, t5 = b[2] >>> 16, t6 = b[3] & 0xffff, t7 = b[3] >>> 16;
    // r &= 0x0ffffffc0ffffffc0ffffffc0fffffff, split into 13-bit limbs.
    const r = this.#r;
    r[0] = t0 & 0x1fff;
    r[1] = ((t0 >>> 13) | (t1 << 3)) & 0x1fff;
    r[2] = ((t1 >>> 10) | (t2 << 6)) & 0x1f03;
    r[3] = ((t2 >>> 7) | (t3 << 9)) & 0x1fff;
    r[4] = ((t3 >>> 4) | (t4 << 12)) & 0x00ff;
    r[5] = (t4 >>> 1) & 0x1ffe;
    r[6] = ((t4 >>> 14) | (t5 << 2)) & 0x1fff;
    r[7] = ((t5 >>> 11) | (t6 << 5)) & 0x1f81;
    r[8] = ((t6 >>> 8) | (t7 << 8)) & 0x1fff;
    r[9] = (t7 >>> 5) & 0x007f;
    const p = this.#pad;
    for (let i = 0; i < 4; i++) {
      p[2 * i] = b[4 + i] & 0xffff;
      p[2 * i + 1] = b[4 + i] >>> 16;
    }
    this.#h.fill(0);
  }

  /**
   * Computes the ChaCha20 block for `counter` (RFC 8439 2.3): XORed into `xor[at, at + 16)`
   * when given (the keystream never touches memory), else stored in #block.
   */
  #chachaBlock(counter: number, xor?: Uint32Array, at = 0): void {
    const k = this.#k, n = this.#n;
    const j4 = k[0], j5 = k[1], j6 = k[2], j7 = k[3], j8 = k[4], j9 = k[5], j10 = k[6], j11 = k[7];
    const j12 = counter | 0, j13 = n[0], j14 = n[1], j15 = n[2];
    let x0 = SIGMA0, x1 = SIGMA1, x2 = SIGMA2, x3 = SIGMA3;
    let x4 = j4, x5 = j5, x6 = j6, x7 = j7, x8 = j8, x9 = j9, x10 = j10, x11 = j11;
    let x12 = j12, x13 = j13, x14 = j14, x15 = j15;
    for (let i = 0; i < 10; i++) {
      // Column round.
      x0 = (x0 + x4) | 0;
      x12 ^= x0;
      x12 = (x12 << 16) | (x12 >>> 16);
      x8 = (x8 + x12) | 0;
      x4 ^= x8;
      x4 = (x4 << 12) | (x4 >>> 20);
      x0 = (x0 + x4) | 0;
      x12 ^= x0;
      x12 = (x12 << 8) | (x12 >>> 24);
      x8 = (x8 + x12) | 0;
      x4 ^= x8;
      x4 = (x4 << 7) | (x4 >>> 25);
      x1 = (x1 + x5) | 0;
      x13 ^= x1;
      x13 = (x13 << 16) | (x13 >>> 16);
      x9 = (x9 + x13) | 0;
      x5 ^= x9;
      x5 = (x5 << 12) | (x5 >>> 20);
      x1 = (x1 + x5) | 0;
      x13 ^= x1;
      x13 = (x13 << 8) | (x13 >>> 24);
      x9 = (x9 + x13) | 0;
      x5 ^= x9;
      x5 = (x5 << 7) | (x5 >>> 25);
      x2 = (x2 + x6) | 0;
      x14 ^= x2;
      x14 = (x14 << 16) | (x14 >>> 16);
      x10 = (x10 + x14) | 0;
      x6 ^= x10;
      x6 = (x6 << 12) | (x6 >>> 20);
      x2 = (x2 + x6) | 0;
      x14 ^= x2;
      x14 = (x14 << 8) | (x14 >>> 24);
      x10 = (x10 + x14) | 0;
      x6 ^= x10;
      x6 = (x6 << 7) | (x6 >>> 25);
      x3 = (x3 + x7) | 0;
      x15 ^= x3;
      x15 = (x15 << 16) | (x15 >>> 16);
      x11 = (x11 + x15) | 0;
      x7 ^= x11;
      x7 = (x7 << 12) | (x7 >>> 20);
      x3 = (x3 + x7) | 0;
      x15 ^= x3;
      x15 = (x15 << 8) | (x15 >>> 24);
      x11 = (x11 + x15) | 0;
      x7 ^= x11;
      x7 = (x7 << 7) | (x7 >>> 25);
      // Diagonal round.
      x0 = (x0 + x5) | 0;
      x15 ^= x0;
      x15 = (x15 << 16) | (x15 >>> 16);
      x10 = (x10 + x15) | 0;
      x5 ^= x10;
      x5 = (x5 << 12) | (x5 >>> 20);
      x0 = (x0 + x5) | 0;
      x15 ^= x0;
      x15 = (x15 << 8) | (x15 >>> 24);
      x10 = (x10 + x15) | 0;
      x5 ^= x10;
      x5 = (x5 << 7) | (x5 >>> 25);
      x1 = (x1 + x6) | 0;
      x12 ^= x1;
      x12 = (x12 << 16) | (x12 >>> 16);
      x11 = (x11 + x12) | 0;
      x6 ^= x11;
      x6 = (x6 << 12) | (x6 >>> 20);
      x1 = (x1 + x6) | 0;
      x12 ^= x1;
      x12 = (x12 << 8) | (x12 >>> 24);
      x11 = (x11 + x12) | 0;
      x6 ^= x11;
      x6 = (x6 << 7) | (x6 >>> 25);
      x2 = (x2 + x7) | 0;
      x13 ^= x2;
      x13 = (x13 << 16) | (x13 >>> 16);
      x8 = (x8 + x13) | 0;
      x7 ^= x8;
      x7 = (x7 << 12) | (x7 >>> 20);
      x2 = (x2 + x7) | 0;
      x13 ^= x2;
      x13 = (x13 << 8) | (x13 >>> 24);
      x8 = (x8 + x13) | 0;
      x7 ^= x8;
      x7 = (x7 << 7) | (x7 >>> 25);
      x3 = (x3 + x4) | 0;
      x14 ^= x3;
      x14 = (x14 << 16) | (x14 >>> 16);
      x9 = (x9 + x14) | 0;
      x4 ^= x9;
      x4 = (x4 << 12) | (x4 >>> 20);
      x3 = (x3 + x4) | 0;
      x14 ^= x3;
      x14 = (x14 << 8) | (x14 >>> 24);
      x9 = (x9 + x14) | 0;
      x4 ^= x9;
      x4 = (x4 << 7) | (x4 >>> 25);
    }
    if (xor) {
      xor[at] ^= x0 + SIGMA0;
      xor[at + 1] ^= x1 + SIGMA1;
      xor[at + 2] ^= x2 + SIGMA2;
      xor[at + 3] ^= x3 + SIGMA3;
      xor[at + 4] ^= x4 + j4;
      xor[at + 5] ^= x5 + j5;
      xor[at + 6] ^= x6 + j6;
      xor[at + 7] ^= x7 + j7;
      xor[at + 8] ^= x8 + j8;
      xor[at + 9] ^= x9 + j9;
      xor[at + 10] ^= x10 + j10;
      xor[at + 11] ^= x11 + j11;
      xor[at + 12] ^= x12 + j12;
      xor[at + 13] ^= x13 + j13;
      xor[at + 14] ^= x14 + j14;
      xor[at + 15] ^= x15 + j15;
      return;
    }
    const o = this.#block;
    o[0] = x0 + SIGMA0;
    o[1] = x1 + SIGMA1;
    o[2] = x2 + SIGMA2;
    o[3] = x3 + SIGMA3;
    o[4] = x4 + j4;
    o[5] = x5 + j5;
    o[6] = x6 + j6;
    o[7] = x7 + j7;
    o[8] = x8 + j8;
    o[9] = x9 + j9;
    o[10] = x10 + j10;
    o[11] = x11 + j11;
    o[12] = x12 + j12;
    o[13] = x13 + j13;
    o[14] = x14 + j14;
    o[15] = x15 + j15;
  }

  /**
   * Word views over a whole ArrayBuffer, kept for the last buffer seen: the device passes
   * the same packet buffers again and again, so this is no allocation per packet.
   */
  #view32(ab: ArrayBufferLike): Uint32Array {
    if (this.#buf32 !== ab) {
      this.#buf32 = ab;
      this.#words32 = new Uint32Array(ab, 0, ab.byteLength >>> 2);
    }
    return this.#words32;
  }
  #view16(ab: ArrayBufferLike): Uint16Array {
    if (this.#buf16 !== ab) {
      this.#buf16 = ab;
      this.#words16 = new Uint16Array(ab, 0, ab.byteLength >>> 1);
    }
    return this.#words16;
  }
  #buf32: ArrayBufferLike | null = null;
  #words32: Uint32Array = new Uint32Array(0);
  #buf16: ArrayBufferLike | null = null;
  #words16: Uint16Array = new Uint16Array(0);

  /** XORs the keystream from block counter 1 on into `buf[off, off + len)` (RFC 8439 2.4). */
  #xorStream(buf: Uint8Array, off: number, len: number): void {
    const blockBytes = this.#blockBytes;
    const start = buf.byteOffset + off;
    const words = LITTLE_ENDIAN && (start & 3) === 0 ? this.#view32(buf.buffer) : null;
    let counter = 1;
    let i = 0;
    if (words) {
      const fullBlocks = len >>> 6;
      const base = start >>> 2;
      for (let b = 0; b < fullBlocks; b++) this.#chachaBlock(counter++, words, base + (b << 4));
      i = fullBlocks << 6;
    }
    while (i < len) {
      this.#chachaBlock(counter++);
      const n = Math.min(64, len - i);
      for (let j = 0; j < n; j++) buf[off + i + j] ^= blockBytes[j];
      i += n;
    }
  }

  /**
   * Poly1305 over ad ‖ pad ‖ ciphertext ‖ pad ‖ len(ad) ‖ len(ct) (RFC 8439 2.8), the tag
   * written to `tag[tagOff, tagOff + 16)`.
   */
  #mac(
    ad: Uint8Array | undefined,
    ct: Uint8Array,
    ctOff: number,
    ctLen: number,
    tag: Uint8Array,
    tagOff: number,
  ): void {
    const adLen = ad ? ad.length : 0;
    if (ad && adLen > 0) this.#polyPadded(ad, 0, adLen);
    this.#polyPadded(ct, ctOff, ctLen);
    const l = this.#lengths;
    writeLE64(l, 0, adLen);
    writeLE64(l, 8, ctLen);
    this.#polyBlocks(l, 0, 1, 1 << 11);
    this.#polyFinish(tag, tagOff);
  }

  /** Absorbs `len` octets, zero-padding the last block to 16. */
  #polyPadded(m: Uint8Array, off: number, len: number): void {
    const full = len >>> 4;
    if (full > 0) this.#polyBlocks(m, off, full, 1 << 11);
    const rest = len & 15;
    if (rest > 0) {
      const p = this.#partial;
      p.fill(0);
      p.set(m.subarray(off + (full << 4), off + len));
      this.#polyBlocks(p, 0, 1, 1 << 11);
    }
  }

  /** Absorbs `blocks` 16-octet blocks from `m[off..]` (poly1305-donna-16 block step). */
  #polyBlocks(m: Uint8Array, off: number, blocks: number, hibit: number): void {
    const h = this.#h, r = this.#r;
    const r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3], r4 = r[4];
    const r5 = r[5], r6 = r[6], r7 = r[7], r8 = r[8], r9 = r[9];
    let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4];
    let h5 = h[5], h6 = h[6], h7 = h[7], h8 = h[8], h9 = h[9];
    const start = m.byteOffset + off;
    const w16 = LITTLE_ENDIAN && (start & 1) === 0 ? this.#view16(m.buffer) : null;
    for (let b = 0, i = off; b < blocks; b++, i += 16) {
      let t0, t1, t2, t3, t4, t5, t6, t7;
      if (w16) {
        const w = (start >>> 1) + (b << 3);
        t0 = w16[w];
        t1 = w16[w + 1];
        t2 = w16[w + 2];
        t3 = w16[w + 3];
        t4 = w16[w + 4];
        t5 = w16[w + 5];
        t6 = w16[w + 6];
        t7 = w16[w + 7];
      } else {
        t0 = m[i] | (m[i + 1] << 8);
        t1 = m[i + 2] | (m[i + 3] << 8);
        t2 = m[i + 4] | (m[i + 5] << 8);
        t3 = m[i + 6] | (m[i + 7] << 8);
        t4 = m[i + 8] | (m[i + 9] << 8);
        t5 = m[i + 10] | (m[i + 11] << 8);
        t6 = m[i + 12] | (m[i + 13] << 8);
        t7 = m[i + 14] | (m[i + 15] << 8);
      }
      h0 += t0 & 0x1fff;
      h1 += ((t0 >>> 13) | (t1 << 3)) & 0x1fff;
      h2 += ((t1 >>> 10) | (t2 << 6)) & 0x1fff;
      h3 += ((t2 >>> 7) | (t3 << 9)) & 0x1fff;
      h4 += ((t3 >>> 4) | (t4 << 12)) & 0x1fff;
      h5 += (t4 >>> 1) & 0x1fff;
      h6 += ((t4 >>> 14) | (t5 << 2)) & 0x1fff;
      h7 += ((t5 >>> 11) | (t6 << 5)) & 0x1fff;
      h8 += ((t6 >>> 8) | (t7 << 8)) & 0x1fff;
      h9 += (t7 >>> 5) | hibit;

      // h *= r mod 2^130 - 5, with 2^130 ≡ 5 folding the high limbs back.
      let c = 0;
      let d0 = c + h0 * r0 + h1 * (5 * r9) + h2 * (5 * r8) + h3 * (5 * r7) + h4 * (5 * r6);
      c = d0 >>> 13;
      d0 &= 0x1fff;
      d0 += h5 * (5 * r5) + h6 * (5 * r4) + h7 * (5 * r3) + h8 * (5 * r2) + h9 * (5 * r1);
      c += d0 >>> 13;
      d0 &= 0x1fff;
      let d1 = c + h0 * r1 + h1 * r0 + h2 * (5 * r9) + h3 * (5 * r8) + h4 * (5 * r7);
      c = d1 >>> 13;
      d1 &= 0x1fff;
      d1 += h5 * (5 * r6) + h6 * (5 * r5) + h7 * (5 * r4) + h8 * (5 * r3) + h9 * (5 * r2);
      c += d1 >>> 13;
      d1 &= 0x1fff;
      let d2 = c + h0 * r2 + h1 * r1 + h2 * r0 + h3 * (5 * r9) + h4 * (5 * r8);
      c = d2 >>> 13;
      d2 &= 0x1fff;
      d2 += h5 * (5 * r7) + h6 * (5 * r6) + h7 * (5 * r5) + h8 * (5 * r4) + h9 * (5 * r3);
      c += d2 >>> 13;
      d2 &= 0x1fff;
      let d3 = c + h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * (5 * r9);
      c = d3 >>> 13;
      d3 &= 0x1fff;
      d3 += h5 * (5 * r8) + h6 * (5 * r7) + h7 * (5 * r6) + h8 * (5 * r5) + h9 * (5 * r4);
      c += d3 >>> 13;
      d3 &= 0x1fff;
      let d4 = c + h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0;
      c = d4 >>> 13;
      d4 &= 0x1fff;
      d4 += h5 * (5 * r9) + h6 * (5 * r8) + h7 * (5 * r7) + h8 * (5 * r6) + h9 * (5 * r5);
      c += d4 >>> 13;
      d4 &= 0x1fff;
      let d5 = c + h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1;
      c = d5 >>> 13;
      d5 &= 0x1fff;
      d5 += h5 * r0 + h6 * (5 * r9) + h7 * (5 * r8) + h8 * (5 * r7) + h9 * (5 * r6);
      c += d5 >>> 13;
      d5 &= 0x1fff;
      let d6 = c + h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2;
      c = d6 >>> 13;
      d6 &= 0x1fff;
      d6 += h5 * r1 + h6 * r0 + h7 * (5 * r9) + h8 * (5 * r8) + h9 * (5 * r7);
      c += d6 >>> 13;
      d6 &= 0x1fff;
      let d7 = c + h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3;
      c = d7 >>> 13;
      d7 &= 0x1fff;
      d7 += h5 * r2 + h6 * r1 + h7 * r0 + h8 * (5 * r9) + h9 * (5 * r8);
      c += d7 >>> 13;
      d7 &= 0x1fff;
      let d8 = c + h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4;
      c = d8 >>> 13;
      d8 &= 0x1fff;
      d8 += h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * (5 * r9);
      c += d8 >>> 13;
      d8 &= 0x1fff;
      let d9 = c + h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5;
      c = d9 >>> 13;
      d9 &= 0x1fff;
      d9 += h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0;
      c += d9 >>> 13;
      d9 &= 0x1fff;
      c = ((c << 2) + c) | 0;
      c = (c + d0) | 0;
      d0 = c & 0x1fff;
      c = c >>> 13;
      d1 += c;
      h0 = d0;
      h1 = d1;
      h2 = d2;
      h3 = d3;
      h4 = d4;
      h5 = d5;
      h6 = d6;
      h7 = d7;
      h8 = d8;
      h9 = d9;
    }
    h[0] = h0;
    h[1] = h1;
    h[2] = h2;
    h[3] = h3;
    h[4] = h4;
    h[5] = h5;
    h[6] = h6;
    h[7] = h7;
    h[8] = h8;
    h[9] = h9;
  }

  /** Final reduction mod 2^130 - 5, + s, written little-endian (poly1305-donna-16 finish). */
  #polyFinish(out: Uint8Array, off: number): void {
    const h = this.#h, g = this.#g;
    let c = h[1] >>> 13;
    h[1] &= 0x1fff;
    for (let i = 2; i < 10; i++) {
      h[i] += c;
      c = h[i] >>> 13;
      h[i] &= 0x1fff;
    }
    h[0] += c * 5;
    c = h[0] >>> 13;
    h[0] &= 0x1fff;
    h[1] += c;
    c = h[1] >>> 13;
    h[1] &= 0x1fff;
    h[2] += c;
    g[0] = h[0] + 5;
    c = g[0] >>> 13;
    g[0] &= 0x1fff;
    for (let i = 1; i < 10; i++) {
      g[i] = h[i] + c;
      c = g[i] >>> 13;
      g[i] &= 0x1fff;
    }
    g[9] -= 1 << 13;
    let mask = (c ^ 1) - 1;
    for (let i = 0; i < 10; i++) g[i] &= mask;
    mask = ~mask;
    for (let i = 0; i < 10; i++) h[i] = (h[i] & mask) | g[i];
    h[0] = (h[0] | (h[1] << 13)) & 0xffff;
    h[1] = ((h[1] >>> 3) | (h[2] << 10)) & 0xffff;
    h[2] = ((h[2] >>> 6) | (h[3] << 7)) & 0xffff;
    h[3] = ((h[3] >>> 9) | (h[4] << 4)) & 0xffff;
    h[4] = ((h[4] >>> 12) | (h[5] << 1) | (h[6] << 14)) & 0xffff;
    h[5] = ((h[6] >>> 2) | (h[7] << 11)) & 0xffff;
    h[6] = ((h[7] >>> 5) | (h[8] << 8)) & 0xffff;
    h[7] = ((h[8] >>> 8) | (h[9] << 5)) & 0xffff;
    const pad = this.#pad;
    let f = h[0] + pad[0];
    h[0] = f & 0xffff;
    for (let i = 1; i < 8; i++) {
      f = (((h[i] + pad[i]) | 0) + (f >>> 16)) | 0;
      h[i] = f & 0xffff;
    }
    for (let i = 0; i < 8; i++) {
      out[off + 2 * i] = h[i] & 0xff;
      out[off + 2 * i + 1] = h[i] >>> 8;
    }
  }
}

function readLE32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

function writeLE64(b: Uint8Array, i: number, v: number): void {
  for (let k = 0; k < 8; k++) {
    b[i + k] = v & 255;
    v = Math.floor(v / 256);
  }
}
