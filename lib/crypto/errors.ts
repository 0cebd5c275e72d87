/**
 * Errors of the crypto primitives.
 * @module
 */

/**
 * A key of the wrong length was given to a primitive (X25519 and ChaCha20-Poly1305 keys
 * are 32 octets). The message names the primitive, the expected and the given length.
 */
export class KeyLengthError extends Error {
  override name = "KeyLengthError";
}
