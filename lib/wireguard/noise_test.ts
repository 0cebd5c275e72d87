import assert from "node:assert/strict";
import { INITIAL_CHAIN_KEY, INITIAL_HASH } from "./noise.ts";
import {
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_TRANSPORT_MIN_SIZE,
  readU64,
  writeU64,
} from "./messages.ts";

Deno.test("noise: C0 = HASH(CONSTRUCTION) and H0 = HASH(C0 || IDENTIFIER) match other implementations", () => {
  // The same constants are hard-coded in boringtun (src/noise/handshake.rs).
  assert.deepEqual(
    Array.from(INITIAL_CHAIN_KEY),
    [
      96,
      226,
      109,
      174,
      243,
      39,
      239,
      192,
      46,
      195,
      53,
      226,
      160,
      37,
      210,
      208,
      22,
      235,
      66,
      6,
      248,
      114,
      119,
      245,
      45,
      56,
      209,
      152,
      139,
      120,
      205,
      54,
    ],
  );
  assert.deepEqual(
    Array.from(INITIAL_HASH),
    [
      34,
      17,
      179,
      97,
      8,
      26,
      197,
      102,
      105,
      18,
      67,
      219,
      69,
      138,
      213,
      50,
      45,
      156,
      108,
      102,
      34,
      147,
      232,
      183,
      14,
      225,
      156,
      101,
      186,
      7,
      158,
      243,
    ],
  );
});

Deno.test("messages: sizes are the whitepaper's, counters round-trip as little-endian 64-bit", () => {
  assert.equal(MESSAGE_INITIATION_SIZE, 148);
  assert.equal(MESSAGE_RESPONSE_SIZE, 92);
  assert.equal(MESSAGE_COOKIE_REPLY_SIZE, 64);
  assert.equal(MESSAGE_TRANSPORT_MIN_SIZE, 32);
  const b = new Uint8Array(8);
  for (const v of [0, 1, 0xffffffff, 0x100000000, 2 ** 53 - 1]) {
    writeU64(b, 0, v);
    assert.equal(readU64(b, 0), v);
  }
  writeU64(b, 0, 0x0102030405);
  assert.deepEqual(Array.from(b), [5, 4, 3, 2, 1, 0, 0, 0]);
});
