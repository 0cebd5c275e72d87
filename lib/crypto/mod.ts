/**
 * Cryptographic primitives for Tela's WireGuard: X25519, BLAKE2s (hash, keyed MAC,
 * HMAC, KDF), ChaCha20-Poly1305 with pluggable backends, XChaCha20-Poly1305, TAI64N.
 * @module
 */
export {
  dh,
  generatePrivateKey,
  nobleX25519,
  nodeX25519,
  publicKeyOf,
  X25519_KEY_SIZE,
  x25519Backend,
  x25519BackendWorks,
} from "./x25519.ts";
export type { X25519Backend } from "./x25519.ts";
export { hash, HASH_SIZE, hmac, kdf, keyedHash, mac, MAC_SIZE } from "./blake2s.ts";
export {
  AEAD_KEY_SIZE,
  AEAD_NONCE_SIZE,
  AEAD_TAG_SIZE,
  aeadOpen,
  aeadSeal,
  availableAeads,
  bestAead,
  NATIVE_AEAD_MIN_BYTES,
  nobleAead,
  nodeAead,
  nodeAeadAvailable,
  sizedAead,
  typescriptAead,
  typescriptAeadAvailable,
  XAEAD_NONCE_SIZE,
  xaeadOpen,
  xaeadSeal,
} from "./aead.ts";
export type { AeadBackend, AeadKey } from "./aead.ts";
export { KeyLengthError } from "./errors.ts";
export { compareTai64n, tai64n, TAI64N_SIZE } from "./tai64n.ts";
