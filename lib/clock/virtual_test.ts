/** The virtual clock: timers run in deadline order, only when the clock is moved. */
import assert from "node:assert/strict";
import { type Clock, SimulationStalledError, VirtualClock } from "./mod.ts";

Deno.test("the virtual clock is a Clock", () => {
  const clock: Clock = new VirtualClock(7);
  assert.equal(clock.now(), 7);
});

Deno.test("advanceSync runs due timers in deadline order, ties in scheduling order", () => {
  const clock = new VirtualClock(1_000);
  const fired: [string, number][] = [];
  clock.setTimeout(() => fired.push(["b", clock.now()]), 20);
  clock.setTimeout(() => fired.push(["a", clock.now()]), 10);
  clock.setTimeout(() => fired.push(["c", clock.now()]), 20);
  const late = clock.setTimeout(() => fired.push(["late", clock.now()]), 31);
  clock.advanceSync(30);
  assert.deepEqual(fired, [["a", 1_010], ["b", 1_020], ["c", 1_020]]);
  assert.equal(clock.now(), 1_030);
  assert.equal(clock.pending, 1);
  clock.clearTimeout(late);
  clock.advanceSync(10);
  assert.equal(fired.length, 3);
  assert.equal(clock.pending, 0);
});

Deno.test("a timer scheduled by a timer runs in the same advance when it is due", () => {
  const clock = new VirtualClock();
  const at: number[] = [];
  clock.setTimeout(() => {
    at.push(clock.now());
    clock.setTimeout(() => at.push(clock.now()), 5);
  }, 5);
  clock.advanceSync(10);
  assert.deepEqual(at, [5, 10]);
});

Deno.test("advance lets promise code run between deadlines", async () => {
  const clock = new VirtualClock();
  const seen: string[] = [];
  clock.setTimeout(() => Promise.resolve().then(() => seen.push("microtask of t=1")), 1);
  clock.setTimeout(() => seen.push("t=2"), 2);
  await clock.advance(2);
  assert.deepEqual(seen, ["microtask of t=1", "t=2"]);
});

Deno.test("a run that can make no progress fails with SimulationStalledError", async () => {
  const clock = new VirtualClock();
  await assert.rejects(clock.run(new Promise(() => {})), SimulationStalledError);
});
