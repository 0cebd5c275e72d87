import assert from "node:assert/strict";
import { ReplayFilter } from "./replay.ts";
import { REPLAY_WINDOW_SIZE } from "./constants.ts";

const LIMIT = 2 ** 53;

Deno.test("replay window accepts each counter once, in any order within the window", () => {
  const r = new ReplayFilter();
  for (let i = 0; i < 100; i++) assert.ok(r.validate(i, LIMIT), `first ${i}`);
  for (let i = 0; i < 100; i++) assert.ok(!r.validate(i, LIMIT), `replayed ${i}`);
  // Reordered arrivals: evens then odds, up to 5000.
  const s = new ReplayFilter();
  for (let i = 0; i < 5000; i += 2) assert.ok(s.validate(i, LIMIT));
  for (let i = 4999; i > 5000 - 2048; i -= 2) assert.ok(s.validate(i, LIMIT), `late odd ${i}`);
});

Deno.test("replay window is at least 2048 wide and rejects anything older", () => {
  assert.ok(REPLAY_WINDOW_SIZE >= 2048);
  const r = new ReplayFilter();
  assert.ok(r.validate(10_000, LIMIT));
  assert.ok(r.validate(10_000 - 2048, LIMIT), "2048 behind is accepted");
  assert.ok(r.validate(10_000 - REPLAY_WINDOW_SIZE, LIMIT), "window edge accepted");
  assert.ok(!r.validate(10_000 - REPLAY_WINDOW_SIZE - 1, LIMIT), "beyond the window rejected");
  assert.ok(!r.validate(0, LIMIT));
});

Deno.test("replay window: a big jump clears old bits, counters at the limit are refused", () => {
  const r = new ReplayFilter();
  assert.ok(r.validate(5, LIMIT));
  assert.ok(r.validate(1_000_000, LIMIT));
  assert.ok(r.validate(1_000_000 - 32 * 127 + 5, LIMIT), "slot reused by the ring is clear");
  assert.ok(!r.validate(1_000_000, LIMIT));
  assert.ok(!r.validate(100, 100), "counter >= REJECT_AFTER_MESSAGES");
  assert.ok(r.validate(2 ** 40, LIMIT), "large counters work");
  assert.ok(!r.validate(2 ** 40, LIMIT));
});
