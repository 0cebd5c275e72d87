import { assertEquals, deepStrictEqual, equal, ok } from "./_test_assert.ts";
const assert = ok;
import {
  aeadOpen,
  aeadSeal,
  availableAeads,
  bestAead,
  compareTai64n,
  dh,
  generatePrivateKey,
  hash,
  hmac,
  kdf,
  keyedHash,
  KeyLengthError,
  mac,
  NATIVE_AEAD_MIN_BYTES,
  nobleAead,
  nobleX25519,
  nodeAeadAvailable,
  nodeX25519,
  publicKeyOf,
  tai64n,
  x25519Backend,
  x25519BackendWorks,
  xaeadOpen,
  xaeadSeal,
} from "./mod.ts";

const hex = (s: string) =>
  Uint8Array.from(s.replace(/[\s:]/g, "").match(/../g)!, (b) => parseInt(b, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const text = (s: string) => new TextEncoder().encode(s);

// RFC 8439 §2.8.2: AEAD_CHACHA20_POLY1305 example.
const RFC8439_KEY = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
const RFC8439_NONCE = hex("070000004041424344454647");
const RFC8439_AAD = hex("50515253c0c1c2c3c4c5c6c7");
const RFC8439_PLAINTEXT = text(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const RFC8439_CIPHERTEXT = hex(`
  d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
  3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
  92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
  3ff4def08e4b7a9de576d26586cec64b6116`);
const RFC8439_TAG = hex("1ae10b594f09e26a7e902ecbd0600691");

for (
  const backend of availableAeads().concat(nobleAead, bestAead()).filter((b, i, a) =>
    a.indexOf(b) === i
  )
) {
  Deno.test(`AEAD ${backend.name}: RFC 8439 §2.8.2 seal gives the published ciphertext and tag`, () => {
    const key = backend.importKey(RFC8439_KEY);
    const out = new Uint8Array(RFC8439_PLAINTEXT.length + 16 + 4);
    const n = key.seal(RFC8439_NONCE, RFC8439_PLAINTEXT, RFC8439_AAD, out, 4);
    equal(n, RFC8439_PLAINTEXT.length + 16);
    equal(toHex(out.subarray(4, 4 + RFC8439_CIPHERTEXT.length)), toHex(RFC8439_CIPHERTEXT));
    equal(toHex(out.subarray(4 + RFC8439_CIPHERTEXT.length)), toHex(RFC8439_TAG));
  });

  Deno.test(`AEAD ${backend.name}: RFC 8439 §2.8.2 open recovers the plaintext`, () => {
    const key = backend.importKey(RFC8439_KEY);
    const sealed = new Uint8Array([...RFC8439_CIPHERTEXT, ...RFC8439_TAG]);
    const out = new Uint8Array(200);
    const n = key.open(RFC8439_NONCE, sealed, RFC8439_AAD, out, 0);
    equal(n, RFC8439_PLAINTEXT.length);
    deepStrictEqual(out.subarray(0, n), RFC8439_PLAINTEXT);
  });

  Deno.test(`AEAD ${backend.name}: a flipped bit, wrong AAD, wrong nonce or short input fail to open`, () => {
    const key = backend.importKey(RFC8439_KEY);
    const sealed = new Uint8Array([...RFC8439_CIPHERTEXT, ...RFC8439_TAG]);
    const out = new Uint8Array(200);
    for (const i of [0, 57, sealed.length - 17, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[i] ^= 1;
      equal(key.open(RFC8439_NONCE, bad, RFC8439_AAD, out, 0), -1);
    }
    equal(key.open(RFC8439_NONCE, sealed, hex("50515253c0c1c2c3c4c5c6c8"), out, 0), -1);
    equal(key.open(hex("070000004041424344454648"), sealed, RFC8439_AAD, out, 0), -1);
    equal(key.open(RFC8439_NONCE, sealed.subarray(0, 15), RFC8439_AAD, out, 0), -1);
  });

  Deno.test(`AEAD ${backend.name}: empty plaintext without AAD round-trips (WireGuard keepalive)`, () => {
    const key = backend.importKey(new Uint8Array(32).fill(0x42));
    const nonce = new Uint8Array(12);
    const out = new Uint8Array(16);
    equal(key.seal(nonce, new Uint8Array(0), undefined, out, 0), 16);
    equal(key.open(nonce, out, undefined, new Uint8Array(0), 0), 0);
    // agrees with noble byte for byte
    const ref = new Uint8Array(16);
    nobleAead.importKey(new Uint8Array(32).fill(0x42)).seal(
      nonce,
      new Uint8Array(0),
      undefined,
      ref,
      0,
    );
    deepStrictEqual(out, ref);
  });
}

Deno.test("AEAD: TypeScript for small packets and node:crypto from 2 KiB is the default", () => {
  ok(nodeAeadAvailable(), "node:crypto chacha20-poly1305 should work in Deno 2");
  deepStrictEqual(availableAeads().map((b) => b.name), ["typescript", "node:crypto", "noble"]);
  equal(bestAead().name, `typescript < ${NATIVE_AEAD_MIN_BYTES} B <= node:crypto`);
});

Deno.test("AEAD: every backend agrees with noble on random lengths, offsets and AAD, and rejects tampering", () => {
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  const bytes = (n: number) => new Uint8Array(n).map(() => rand(256));
  for (let round = 0; round < 400; round++) {
    const keyBytes = bytes(32), nonce = bytes(12);
    // Lengths on both sides of NATIVE_AEAD_MIN_BYTES, where the default backend switches.
    const len = round < 70 ? round : rand(round % 3 === 0 ? 20000 : 2200),
      adLen = rand(3) === 0 ? 0 : rand(70);
    const pt = bytes(len), ad = adLen > 0 ? bytes(adLen) : undefined;
    const ref = chacha20poly1305Ref(keyBytes, nonce, pt, ad);
    for (const backend of [...availableAeads(), bestAead()]) {
      const key = backend.importKey(keyBytes);
      const off = rand(9);
      const out = new Uint8Array(off + len + 16);
      equal(key.seal(nonce, pt, ad, out, off), len + 16, backend.name);
      deepStrictEqual(out.subarray(off), ref, `${backend.name} seal, length ${len}, offset ${off}`);
      const back = new Uint8Array(len + off);
      equal(key.open(nonce, ref, ad, back, off), len, `${backend.name} open`);
      deepStrictEqual(back.subarray(off), pt, `${backend.name} open, length ${len}`);
      if (len > 0) {
        const bad = ref.slice();
        bad[rand(bad.length)] ^= 1 << rand(8);
        equal(key.open(nonce, bad, ad, back, off), -1, `${backend.name} tamper`);
      }
    }
  }
});

/** The reference result from @noble/ciphers. */
function chacha20poly1305Ref(
  key: Uint8Array,
  nonce: Uint8Array,
  pt: Uint8Array,
  ad?: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(pt.length + 16);
  nobleAead.importKey(key).seal(nonce, pt, ad, out, 0);
  return out;
}

Deno.test("AEAD one-shot helpers round-trip and reject tampering", () => {
  const key = new Uint8Array(32).fill(1);
  const nonce = new Uint8Array(12);
  const sealed = aeadSeal(key, nonce, text("hello"), text("ad"));
  deepStrictEqual(aeadOpen(key, nonce, sealed, text("ad")), text("hello"));
  equal(aeadOpen(key, nonce, sealed, text("ae")), null);
});

Deno.test("XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03 §A.3.1 vector", () => {
  const nonce = hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const expected = hex(`
    bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
    731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
    2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
    21f9664c97637da9768812f615c68b13b52e
    c0875924c1c7987947deafd8780acf49`);
  const sealed = xaeadSeal(RFC8439_KEY, nonce, RFC8439_PLAINTEXT, RFC8439_AAD);
  equal(toHex(sealed), toHex(expected));
  deepStrictEqual(xaeadOpen(RFC8439_KEY, nonce, expected, RFC8439_AAD), RFC8439_PLAINTEXT);
});

Deno.test("XChaCha20-Poly1305 round-trips and rejects a wrong nonce", () => {
  const key = new Uint8Array(32).fill(9);
  const nonce = new Uint8Array(24).fill(4);
  const sealed = xaeadSeal(key, nonce, new Uint8Array(16).fill(5), text("mac1"));
  equal(sealed.length, 32);
  deepStrictEqual(xaeadOpen(key, nonce, sealed, text("mac1")), new Uint8Array(16).fill(5));
  const other = nonce.slice();
  other[23] ^= 1;
  equal(xaeadOpen(key, other, sealed, text("mac1")), null);
});

Deno.test('BLAKE2s-256: RFC 7693 Appendix B hash of "abc"', () => {
  equal(
    toHex(hash(text("abc"))),
    "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
  );
  // split input hashes the same as joined input
  equal(toHex(hash(text("a"), text("bc"))), toHex(hash(text("abc"))));
});

Deno.test("BLAKE2s keyed: reference KAT (key 00..1f) and MAC is the 16-byte keyed form", () => {
  // blake2s-kat.txt (the RFC 7693 reference implementation's keyed vectors).
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  equal(
    toHex(keyedHash(key, new Uint8Array(0))),
    "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49",
  );
  equal(
    toHex(keyedHash(key, Uint8Array.of(0))),
    "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1",
  );
  // BLAKE2s encodes the output length in its parameter block: MAC is not a prefix.
  deepStrictEqual(mac(key, text("m")), keyedHash(key, text("m"), 16));
  ok(toHex(mac(key, new Uint8Array(0))) !== "48a8997da407876b3d79c0d92325ad3b");
});

Deno.test("HMAC-BLAKE2s: RFC 2104 structure, long keys hashed first", () => {
  const h1 = hmac(text("key"), text("The quick brown fox"));
  equal(h1.length, 32);
  deepStrictEqual(hmac(text("key"), text("The quick "), text("brown fox")), h1);
  const longKey = new Uint8Array(100).fill(1);
  deepStrictEqual(hmac(longKey, text("x")), hmac(hash(longKey), text("x")));
});

Deno.test("KDF1/2/3 outputs chain as the whitepaper §5.4 defines", () => {
  const key = new Uint8Array(32).fill(3);
  const input = text("input");
  const [a1] = kdf(1, key, input);
  const [b1, b2] = kdf(2, key, input);
  const [c1, c2, c3] = kdf(3, key, input);
  deepStrictEqual(a1, b1);
  deepStrictEqual(b1, c1);
  deepStrictEqual(b2, c2);
  const t0 = hmac(key, input);
  deepStrictEqual(c1, hmac(t0, Uint8Array.of(1)));
  deepStrictEqual(c2, hmac(t0, c1, Uint8Array.of(2)));
  deepStrictEqual(c3, hmac(t0, c2, Uint8Array.of(3)));
});

Deno.test("X25519: RFC 7748 §6.1 Alice/Bob shared secret", () => {
  const alicePriv = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const bobPriv = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  equal(
    toHex(publicKeyOf(alicePriv)),
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  );
  equal(
    toHex(publicKeyOf(bobPriv)),
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  );
  const k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  equal(toHex(dh(alicePriv, publicKeyOf(bobPriv))!), k);
  equal(toHex(dh(bobPriv, publicKeyOf(alicePriv))!), k);
});

for (const backend of [nodeX25519, nobleX25519]) {
  Deno.test(`X25519 ${backend.name}: RFC 7748 §6.1 vector; agrees with the other backend`, () => {
    assert(x25519BackendWorks(backend), `${backend.name} reproduces RFC 7748 §6.1`);
    const other = backend === nodeX25519 ? nobleX25519 : nodeX25519;
    for (let i = 0; i < 5; i++) {
      const a = generatePrivateKey();
      const b = generatePrivateKey();
      deepStrictEqual(backend.publicKey(a), other.publicKey(a));
      deepStrictEqual(
        backend.sharedSecret(a, other.publicKey(b)),
        other.sharedSecret(b, backend.publicKey(a)),
      );
    }
  });
}

Deno.test("X25519: the native backend is chosen in Deno", () => {
  equal(x25519Backend().name, "node:crypto");
});

Deno.test("X25519: a low-order public key yields null, generated keys are clamped", () => {
  equal(dh(generatePrivateKey(), new Uint8Array(32)), null);
  const k = generatePrivateKey();
  equal(k[0] & 7, 0);
  equal(k[31] & 0xc0, 0x40);
});

Deno.test("TAI64N: epoch label, big-endian, order follows time", () => {
  const t = tai64n(0);
  equal(toHex(t), "400000000000000a00000000");
  const a = tai64n(1_700_000_000_000);
  const b = tai64n(1_700_000_001_000);
  ok(compareTai64n(a, b) < 0);
  equal(compareTai64n(a, tai64n(1_700_000_000_000)), 0);
  assertEquals(a.length, 12);
});

Deno.test("a key of the wrong length is a KeyLengthError naming the lengths", () => {
  const short = new Uint8Array(31);
  for (const backend of availableAeads()) {
    let caught: unknown;
    try {
      backend.importKey(short);
    } catch (e) {
      caught = e;
    }
    ok(caught instanceof KeyLengthError, `${backend.name} throws KeyLengthError`);
    equal((caught as Error).name, "KeyLengthError");
    ok((caught as Error).message.includes("got 31"));
  }
  let caught: unknown;
  try {
    publicKeyOf(short);
  } catch (e) {
    caught = e;
  }
  ok(caught instanceof KeyLengthError, "X25519 throws KeyLengthError");
});
