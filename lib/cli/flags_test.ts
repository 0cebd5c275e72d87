import assert from "node:assert/strict";
import { FlagError, helpRequested, parseFlags } from "./flags.ts";

const specs = {
  hub: { type: "string" },
  port: { type: "number", default: 80 },
  v: { type: "boolean" },
  tag: { type: "string", multiple: true },
  machine: { type: "string", short: "m" },
} as const;

Deno.test("single-dash, double-dash and = forms all set a string flag", () => {
  for (const args of [["-hub", "x"], ["--hub", "x"], ["-hub=x"], ["--hub=x"]]) {
    assert.equal(parseFlags(args, specs).values.hub, "x");
  }
});

Deno.test("flags after positionals are parsed, positionals keep order", () => {
  const r = parseFlags(["connect", "a", "-hub", "h", "b", "-v"], specs);
  assert.deepEqual(r.positionals, ["connect", "a", "b"]);
  assert.equal(r.values.hub, "h");
  assert.equal(r.values.v, true);
});

Deno.test("booleans accept -v=false and numbers are converted with defaults", () => {
  const r = parseFlags(["-v=false", "-port", "8080"], specs);
  assert.equal(r.values.v, false);
  assert.equal(r.values.port, 8080);
  assert.equal(parseFlags([], specs).values.port, 80);
});

Deno.test("repeated flags collect, short aliases map to long names", () => {
  const r = parseFlags(["-tag", "a", "--tag=b", "-m", "barn"], specs);
  assert.deepEqual(r.values.tag, ["a", "b"]);
  assert.equal(r.values.machine, "barn");
});

Deno.test("unknown flags, missing values and bad numbers throw FlagError naming the flag", () => {
  assert.throws(
    () => parseFlags(["-nope"], specs),
    (e) => e instanceof FlagError && /-nope/.test(e.message),
  );
  assert.throws(
    () => parseFlags(["-hub"], specs),
    (e) => e instanceof FlagError && /-hub/.test(e.message),
  );
  assert.throws(
    () => parseFlags(["-port", "x"], specs),
    (e) => e instanceof FlagError && /-port/.test(e.message),
  );
});

Deno.test("everything after -- is positional", () => {
  const r = parseFlags(["--", "-hub", "x"], specs);
  assert.deepEqual(r.positionals, ["-hub", "x"]);
  assert.equal(r.values.hub, undefined);
});

Deno.test("helpRequested finds -h, -help and -? anywhere before --, as Go's flag does", () => {
  assert.equal(helpRequested(["connect", "-hub", "x", "-h"]), true);
  assert.equal(helpRequested(["--help"]), true);
  assert.equal(helpRequested(["-?"]), true);
  assert.equal(helpRequested(["-hub", "x", "--", "-h"]), false);
  assert.equal(helpRequested(["-hub", "-hx"]), false);
});

Deno.test("a value flag followed by another flag has no value: flag needs an argument", () => {
  for (
    const args of [["-hub", "-v"], ["-hub", "--port", "1"], ["-hub", "-m", "x"], ["-hub", "--"]]
  ) {
    assert.throws(
      () => parseFlags(args, specs),
      (e) => e instanceof FlagError && e.message === "flag needs an argument: -hub",
      args.join(" "),
    );
  }
});

Deno.test("a value that starts with a dash but is no flag is taken, as Go takes it", () => {
  const r = parseFlags(["-port", "-5", "-hub", "-x", "-tag", "-"], specs);
  assert.equal(r.values.port, -5);
  assert.equal(r.values.hub, "-x");
  assert.deepEqual(r.values.tag, ["-"]);
});

Deno.test("an unknown flag close to a declared one gets a did-you-mean", () => {
  assert.throws(
    () => parseFlags(["-hubb", "x"], specs),
    (e) =>
      e instanceof FlagError &&
      e.message === "flag provided but not defined: -hubb Did you mean: -hub?",
  );
  assert.throws(
    () => parseFlags(["-zzzzzz"], specs),
    (e) => e instanceof FlagError && e.message === "flag provided but not defined: -zzzzzz",
  );
});
