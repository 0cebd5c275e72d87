import assert from "node:assert/strict";
import {
  generateKeyPair,
  InvalidKeyError,
  keyFromBase64,
  keyFromHex,
  keyToBase64,
  keyToHex,
  parseKey,
  publicKeyFromPrivate,
} from "./keys.ts";

Deno.test("keys: a wg-generated pair matches publicKeyFromPrivate (wg genkey | wg pubkey)", () => {
  // Public key computed by `wg pubkey` (wireguard-tools) on this machine.
  const priv = keyFromBase64("oF5ZHu+HbLrqrI3+PYNtg9YDgu1P0obp6yMrHgl7O3I=");
  assert.equal(
    keyToBase64(publicKeyFromPrivate(priv)),
    "Id2341hiXq0N1FyF8+ITh+rZrA+6phxp1247nSnq+QI=",
  );
});

Deno.test("keys: hex and base64 round-trip; hex is lowercase; parseKey accepts both", () => {
  const { privateKey, publicKey } = generateKeyPair();
  assert.deepEqual(publicKeyFromPrivate(privateKey), publicKey);
  const hex = keyToHex(publicKey);
  assert.match(hex, /^[0-9a-f]{64}$/);
  assert.deepEqual(keyFromHex(hex), publicKey);
  assert.deepEqual(keyFromHex(hex.toUpperCase()), publicKey);
  const b64 = keyToBase64(publicKey);
  assert.equal(b64.length, 44);
  assert.deepEqual(keyFromBase64(b64), publicKey);
  assert.deepEqual(parseKey(` ${hex}\n`), publicKey);
  assert.deepEqual(parseKey(b64), publicKey);
});

Deno.test("keys: malformed text is refused with an error naming the problem, never the whole key", () => {
  assert.throws(() => keyFromHex("zz".repeat(32)), /not 64 hex digits/);
  assert.throws(() => keyFromHex("ab"), /not 64 hex digits/);
  assert.throws(() => keyFromBase64("A".repeat(44)), /base64/);
  assert.throws(() => parseKey("short"), /64 hex digits or 44 base64/);
  try {
    parseKey("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeX");
  } catch (e) {
    assert.ok(
      !(e as Error).message.includes("0123456789abcdef0123"),
      "error must not echo the key",
    );
  }
});

Deno.test("keys: every malformed key is an InvalidKeyError", () => {
  for (const f of [() => keyFromHex("ab"), () => keyFromBase64("x"), () => parseKey("short")]) {
    assert.throws(f, (e) => e instanceof InvalidKeyError && e.name === "InvalidKeyError");
  }
});
