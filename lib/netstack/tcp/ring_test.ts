/** The byte ring: wrap-around, growth that keeps out-of-order octets in place. */
import assert from "node:assert/strict";
import { RingBuffer } from "./ring.ts";

Deno.test("a ring starts small and grows to its capacity, never past it", () => {
  const r = new RingBuffer(1 << 20);
  assert.equal(r.bytes.length, 4096);
  const data = new Uint8Array(300_000).map((_, i) => i * 7);
  assert.equal(r.append(data), 300_000);
  assert.ok(r.bytes.length >= 300_000 && r.bytes.length <= 1 << 20);
  const out = new Uint8Array(300_000);
  r.readAt(0, out, 0, out.length);
  assert.deepEqual(out, data);
  assert.equal(r.append(new Uint8Array(2 << 20)), (1 << 20) - 300_000, "only up to capacity");
  assert.equal(r.bytes.length, 1 << 20);
});

Deno.test("growing keeps octets written past the committed region where they were", () => {
  const r = new RingBuffer(1 << 16);
  // Wrap the head around a small storage first.
  r.append(new Uint8Array(3000).fill(1));
  r.consume(3000);
  r.append(new Uint8Array([1, 2, 3]));
  // Out-of-order octets far ahead force growth while the head sits mid-storage.
  const far = new Uint8Array(5000).map((_, i) => i & 255);
  r.writeAt(20_000, far, 0, far.length);
  r.writeAt(0, new Uint8Array(20_000).fill(9), 0, 20_000);
  r.commit(25_000);
  const out = new Uint8Array(25_003);
  r.readAt(0, out, 0, out.length);
  assert.deepEqual([...out.subarray(0, 3)], [1, 2, 3]);
  assert.ok(out.subarray(3, 20_003).every((b) => b === 9));
  assert.deepEqual(out.subarray(20_003), far);
});

Deno.test("a full-capacity ring wraps reads and writes", () => {
  const r = new RingBuffer(4096);
  for (let round = 0; round < 10; round++) {
    const chunk = new Uint8Array(3000).map((_, i) => (i + round) & 255);
    assert.equal(r.append(chunk), 3000);
    const out = new Uint8Array(3000);
    r.readAt(0, out, 0, 3000);
    r.consume(3000);
    assert.deepEqual(out, chunk, `round ${round}`);
  }
});
