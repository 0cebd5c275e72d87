import assert from "node:assert/strict";
import { logger } from "../log/mod.ts";
import { LOG_DEFAULT_LINES, LogRing, parseLines } from "./log_ring.ts";

Deno.test("the log ring keeps the newest lines, oldest first, and splits on newlines", () => {
  const ring = new LogRing(3);
  assert.deepEqual(ring.tail(10), []);
  ring.push("a");
  ring.push("b\nc");
  ring.push("d");
  assert.deepEqual(ring.tail(10), ["b", "c", "d"]);
  assert.deepEqual(ring.tail(2), ["c", "d"]);
  for (let i = 0; i < 7; i++) ring.push(`x${i}`);
  assert.deepEqual(ring.tail(3), ["x4", "x5", "x6"]);
});

Deno.test("an attached ring receives the logger's lines as printed; detached it stops", () => {
  const ring = new LogRing().attach();
  const log = logger("ringtest");
  log.info("first line");
  log.warn("second");
  ring.detach();
  log.info("after detach");
  const lines = ring.tail(1000).filter((l) => l.includes("[ringtest]"));
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[ringtest\] first line$/);
  assert.match(lines[1], /\[ringtest\] WARN: second$/);
});

Deno.test("?lines= is a positive integer, else the default 100 (spec §5.7)", () => {
  assert.equal(parseLines("5"), 5);
  assert.equal(parseLines("5000"), 5000);
  for (const v of [null, "", "0", "-2", "abc", "1.5", "1e3"]) {
    assert.equal(parseLines(v), LOG_DEFAULT_LINES, String(v));
  }
});
