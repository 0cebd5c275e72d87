/**
 * ChaCha20-Poly1305 (RFC 8439 §2.8) behind one interface with three backends: our own
 * allocation-free TypeScript (`chacha_poly.ts`, fastest for tunnel-sized packets),
 * `node:crypto` (native OpenSSL, but each call builds cipher objects and Buffers) and
 * `@noble/ciphers` (the portable reference). {@link bestAead} picks the fastest one that
 * passes a known-answer check at start-up.
 * Plus XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) for WireGuard cookie replies.
 * @module
 */
import { KeyLengthError } from "./errors.ts";
import * as nodeCrypto from "node:crypto";
import { chacha20poly1305, xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { ChaChaPoly } from "./chacha_poly.ts";

/** Key length in bytes. */
export const AEAD_KEY_SIZE = 32;
/** Nonce length in bytes (RFC 8439: 32-bit constant || 64-bit counter). */
export const AEAD_NONCE_SIZE = 12;
/** Poly1305 tag length in bytes. */
export const AEAD_TAG_SIZE = 16;
/** XChaCha20-Poly1305 nonce length in bytes. */
export const XAEAD_NONCE_SIZE = 24;

/**
 * One ChaCha20-Poly1305 key, prepared by a backend. Outputs are written into
 * caller-provided buffers so the per-packet path can reuse its buffers.
 */
export interface AeadKey {
  /**
   * Encrypts `plaintext` and writes ciphertext || tag (plaintext.length + 16 bytes)
   * into `out` starting at `outOffset`. Returns the number of bytes written.
   * `out` may not overlap `plaintext`.
   */
  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array | undefined,
    out: Uint8Array,
    outOffset: number,
  ): number;
  /**
   * Authenticates and decrypts `sealed` (ciphertext || tag), writing the plaintext
   * into `out` at `outOffset`. Returns the plaintext length, or -1 when the tag does
   * not verify (or `sealed` is shorter than a tag); never throws on bad input.
   */
  open(
    nonce: Uint8Array,
    sealed: Uint8Array,
    ad: Uint8Array | undefined,
    out: Uint8Array,
    outOffset: number,
  ): number;
}

/** An implementation of ChaCha20-Poly1305. */
export interface AeadBackend {
  /** Short name shown in benchmarks and logs ("node:crypto", "noble"). */
  readonly name: string;
  /**
   * Prepares a 32-byte key.
   * @throws {KeyLengthError} if `raw` is not 32 bytes.
   */
  importKey(raw: Uint8Array): AeadKey;
}

function checkKey(raw: Uint8Array): void {
  if (raw.length !== AEAD_KEY_SIZE) {
    throw new KeyLengthError(
      `ChaCha20-Poly1305 key must be ${AEAD_KEY_SIZE} bytes, got ${raw.length}`,
    );
  }
}

/** The pure-JS backend (`@noble/ciphers`). Always available. */
export const nobleAead: AeadBackend = {
  name: "noble",
  importKey(raw: Uint8Array): AeadKey {
    checkKey(raw);
    const key = raw.slice();
    return {
      seal(nonce, plaintext, ad, out, outOffset) {
        const n = plaintext.length + AEAD_TAG_SIZE;
        const dst = out.subarray(outOffset, outOffset + n);
        const c = chacha20poly1305(key, nonce, ad);
        // noble writes in place only into a 4-byte aligned, exactly sized output.
        if ((dst.byteOffset & 3) === 0 && dst.length === n) c.encrypt(plaintext, dst);
        else dst.set(c.encrypt(plaintext));
        return n;
      },
      open(nonce, sealed, ad, out, outOffset) {
        if (sealed.length < AEAD_TAG_SIZE) return -1;
        const n = sealed.length - AEAD_TAG_SIZE;
        const dst = out.subarray(outOffset, outOffset + n);
        if (dst.length !== n) return -1;
        try {
          const c = chacha20poly1305(key, nonce, ad);
          if ((dst.byteOffset & 3) === 0) c.decrypt(sealed, dst);
          else dst.set(c.decrypt(sealed));
          return n;
        } catch {
          return -1;
        }
      },
    };
  },
};

/**
 * The allocation-free TypeScript backend (`chacha_poly.ts`). Per 1100-byte packet it
 * beats `node:crypto`, whose per-call cipher objects and Buffers cost more than the
 * cipher itself (bench/wireguard.ts).
 */
export const typescriptAead: AeadBackend = {
  name: "typescript",
  importKey(raw: Uint8Array): AeadKey {
    checkKey(raw);
    return new ChaChaPoly(raw);
  },
};

const NODE_CIPHER = "chacha20-poly1305";
const NODE_OPTS = { authTagLength: AEAD_TAG_SIZE } as const;

/** The native backend (`node:crypto`); check {@link nodeAeadAvailable} before use. */
export const nodeAead: AeadBackend = {
  name: "node:crypto",
  importKey(raw: Uint8Array): AeadKey {
    checkKey(raw);
    // A raw key is cheaper per createCipheriv call than a KeyObject in Deno (measured).
    const key = raw.slice();
    return {
      seal(nonce, plaintext, ad, out, outOffset) {
        const c = nodeCrypto.createCipheriv(NODE_CIPHER, key, nonce, NODE_OPTS);
        if (ad !== undefined && ad.length > 0) c.setAAD(ad, { plaintextLength: plaintext.length });
        const ct = c.update(plaintext);
        out.set(ct, outOffset);
        let n = ct.length;
        const tail = c.final();
        if (tail.length > 0) {
          out.set(tail, outOffset + n);
          n += tail.length;
        }
        out.set(c.getAuthTag(), outOffset + n);
        return n + AEAD_TAG_SIZE;
      },
      open(nonce, sealed, ad, out, outOffset) {
        if (sealed.length < AEAD_TAG_SIZE) return -1;
        const n = sealed.length - AEAD_TAG_SIZE;
        if (out.length - outOffset < n) return -1;
        try {
          const d = nodeCrypto.createDecipheriv(NODE_CIPHER, key, nonce, NODE_OPTS);
          d.setAuthTag(sealed.subarray(n));
          if (ad !== undefined && ad.length > 0) d.setAAD(ad, { plaintextLength: n });
          const pt = d.update(sealed.subarray(0, n));
          d.final(); // throws when the tag does not verify
          out.set(pt, outOffset);
          return n;
        } catch {
          return -1;
        }
      },
    };
  },
};

/** Whether each checked backend passed {@link agreesWithNoble}. */
const probed = new Map<AeadBackend, boolean>();

/** True when `node:crypto` offers ChaCha20-Poly1305 and it agrees with noble on a probe. */
export function nodeAeadAvailable(): boolean {
  return agreesWithNoble(nodeAead);
}

/** True when the TypeScript backend agrees with noble on a probe (it always should). */
export function typescriptAeadAvailable(): boolean {
  return agreesWithNoble(typescriptAead);
}

/** Seals and opens a probe with `b` and noble (once per backend); true when they agree. */
function agreesWithNoble(b: AeadBackend): boolean {
  let ok = probed.get(b);
  if (ok !== undefined) return ok;
  try {
    const key = new Uint8Array(32).fill(7);
    const nonce = new Uint8Array(12).fill(3);
    const pt = new Uint8Array(150).map((_, i) => i);
    const ad = new Uint8Array(5).fill(1);
    const a = new Uint8Array(166);
    const ref = new Uint8Array(166);
    const k = b.importKey(key);
    k.seal(nonce, pt, ad, a, 0);
    nobleAead.importKey(key).seal(nonce, pt, ad, ref, 0);
    const back = new Uint8Array(150);
    ok = a.every((x, i) => x === ref[i]) && k.open(nonce, ref, ad, back, 0) === 150 &&
      back.every((x, i) => x === pt[i]);
  } catch {
    ok = false;
  }
  probed.set(b, ok);
  return ok;
}

/**
 * Every backend that works in this runtime, fastest first for 1100-byte packets
 * (measured by bench/wireguard.ts: typescript, then node:crypto, then noble).
 */
export function availableAeads(): AeadBackend[] {
  const list: AeadBackend[] = [];
  if (typescriptAeadAvailable()) list.push(typescriptAead);
  if (nodeAeadAvailable()) list.push(nodeAead);
  list.push(nobleAead);
  return list;
}

/**
 * Plaintext length (octets) from which {@link bestAead} uses `node:crypto`: below it, the
 * allocation-free TypeScript cipher is as fast or faster (the cipher objects and Buffers of
 * `node:crypto` cost more than the cipher); from 2 KiB on, OpenSSL is 2.5 to 5 times
 * faster (about 15 against 70 µs per seal+open of 16 KiB; bench/wireguard.ts). Packets
 * this large only travel between two of our own peers (lib/session/engine.ts).
 */
export const NATIVE_AEAD_MIN_BYTES = 2048;

/**
 * A backend that seals and opens with `small` below `threshold` octets of plaintext and
 * with `large` from it on. Both must implement the same RFC 8439 AEAD (they are checked
 * against noble before {@link bestAead} combines them).
 * @param threshold plaintext length in octets from which `large` is used.
 */
export function sizedAead(
  small: AeadBackend,
  large: AeadBackend,
  threshold: number,
): AeadBackend {
  return {
    name: `${small.name} < ${threshold} B <= ${large.name}`,
    importKey(raw: Uint8Array): AeadKey {
      const s = small.importKey(raw);
      const l = large.importKey(raw);
      return {
        seal: (nonce, plaintext, ad, out, outOffset) =>
          (plaintext.length < threshold ? s : l).seal(nonce, plaintext, ad, out, outOffset),
        open: (nonce, sealed, ad, out, outOffset) =>
          (sealed.length < threshold + AEAD_TAG_SIZE ? s : l).open(
            nonce,
            sealed,
            ad,
            out,
            outOffset,
          ),
      };
    },
  };
}

/**
 * The backend used by default, decided at first call: the TypeScript cipher for packets
 * below {@link NATIVE_AEAD_MIN_BYTES} and `node:crypto` from there on when both work, else
 * the first of {@link availableAeads}.
 */
export function bestAead(): AeadBackend {
  if (best) return best;
  const list = availableAeads();
  best = list[0] === typescriptAead && list[1] === nodeAead
    ? sizedAead(typescriptAead, nodeAead, NATIVE_AEAD_MIN_BYTES)
    : list[0];
  return best;
}
let best: AeadBackend | undefined;

/**
 * One-shot ChaCha20-Poly1305 seal with the default backend (used by the handshake,
 * not the per-packet path). Returns a new ciphertext || tag.
 */
export function aeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad?: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(plaintext.length + AEAD_TAG_SIZE);
  bestAead().importKey(key).seal(nonce, plaintext, ad, out, 0);
  return out;
}

/** One-shot ChaCha20-Poly1305 open; null when authentication fails. */
export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad?: Uint8Array,
): Uint8Array | null {
  if (sealed.length < AEAD_TAG_SIZE) return null;
  const out = new Uint8Array(sealed.length - AEAD_TAG_SIZE);
  return bestAead().importKey(key).open(nonce, sealed, ad, out, 0) < 0 ? null : out;
}

/** XChaCha20-Poly1305 seal (24-byte nonce), as used for cookie replies. */
export function xaeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad?: Uint8Array,
): Uint8Array {
  return xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** XChaCha20-Poly1305 open; null when authentication fails. */
export function xaeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad?: Uint8Array,
): Uint8Array | null {
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(sealed);
  } catch {
    return null;
  }
}
