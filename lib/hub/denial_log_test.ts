import assert from "node:assert/strict";
import { DenialLog, hostOf } from "./denial_log.ts";

Deno.test("DenialLog writes one line per address per interval and counts the rest", () => {
  let t = 0;
  const d = new DenialLog(60_000, 3, () => t);
  assert.equal(d.take("10.0.0.1"), 0);
  for (let i = 0; i < 5; i++) assert.equal(d.take("10.0.0.1"), undefined);
  assert.equal(d.take("10.0.0.2"), 0, "another address has its own budget");
  t = 60_000;
  assert.equal(d.take("10.0.0.1"), 5, "the next line says how many were left out");
  assert.equal(d.take("10.0.0.1"), undefined);
  for (let i = 0; i < 100; i++) d.take(`192.0.2.${i}`);
  assert.equal(d.size, 3, "bounded");
});

Deno.test("hostOf drops the port of host:port peers, IPv6 included", () => {
  assert.equal(hostOf("127.0.0.1:5000"), "127.0.0.1");
  assert.equal(hostOf("::1:5000"), "::1");
  assert.equal(hostOf("pipe"), "pipe");
});
