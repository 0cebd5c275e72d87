/**
 * `tela files` output of agent-supplied text (security review finding 6): names, times and
 * errors from the agent cannot drive the terminal.
 */
import assert from "node:assert/strict";
import { display, displayJson, formatListing, formatShares } from "./files.ts";

const EVIL = "\x1b]0;owned\x07\x1b[2J\x1b[31mreport\x1b[0m\nfake\u202e\u0085\x7f.txt";
// deno-lint-ignore no-control-regex
const RAW = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

Deno.test("files display: C0/C1/DEL and bidi controls from the agent are escaped", () => {
  const table = formatListing([
    { name: EVIL, size: 2, modTime: "2026-01-01T00:00:00Z\x1b[2J", isDir: false },
    { name: `dir${EVIL}`, size: 0, modTime: "2026-01-01T00:00:00Z", isDir: true },
  ]);
  for (const line of table.split("\n")) assert.doesNotMatch(line, RAW);
  assert.equal(table.split("\n").length, 3);
  assert.match(table, /\\x1b\]0;owned\\x07/);
  const info = formatShares("barn", [{ name: EVIL }]).split("\n");
  assert.equal(info.length, 3);
  for (const line of info) assert.doesNotMatch(line, RAW);
  assert.equal(display("plain name.txt"), "plain name.txt");
  const json = displayJson([{ name: EVIL }]);
  for (const line of json.split("\n")) assert.doesNotMatch(line, RAW);
  assert.deepEqual(JSON.parse(json), [{ name: EVIL }]);
});
