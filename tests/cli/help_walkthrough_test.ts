/**
 * Help and usage findings of the new-user walkthrough: what `tela help`, `tela files`,
 * `tela mount -h` and `telad -h` say, each from the real program.
 */
import assert from "node:assert/strict";
import { runProgram } from "./_run.ts";

const flat = (s: string) => s.replace(/\s+/g, " ");

Deno.test("tela help lists the environment variables of every command", async () => {
  const r = await runProgram("tela", ["help"], { net: false });
  assert.equal(r.code, 0, r.stderr);
  for (const v of ["TELA_TRANSPORT", "TELA_STUN_SERVERS", "TELA_SHARE", "TELA_MOUNT_PORT"]) {
    assert.ok(flat(r.stdout).includes(v), v);
  }
});

Deno.test("tela files: no action is a usage error (exit 2); -h documents the flags", async () => {
  const bare = await runProgram("tela", ["files"], { net: false });
  assert.equal(bare.code, 2, bare.stderr);
  assert.match(bare.stderr, /^Error: tela files needs an action: ls, get, put, rm, mkdir/);
  const help = await runProgram("tela", ["files", "-h"], { net: false });
  assert.equal(help.code, 0, help.stderr);
  for (const f of ["-machine <name>", "-share <name>", "-o <local>", "-json", "-v"]) {
    assert.ok(help.stdout.includes(f), f);
  }
});

Deno.test("tela mount -h: -port wins over TELA_MOUNT_PORT", async () => {
  const r = await runProgram("tela", ["mount", "-h"], { net: false });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(flat(r.stdout).includes("-port wins over TELA_MOUNT_PORT"), r.stdout);
  assert.ok(!/overrides -port/.test(flat(r.stdout)), r.stdout);
});

Deno.test("telad -h: no SEE ALSO to an unavailable command; names shares, gateway, upstreams", async () => {
  const r = await runProgram("telad", ["-h"], { net: false });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes("telad service"), r.stdout);
  for (const k of ["shares:", "gateway:", "upstreams:"]) assert.ok(r.stdout.includes(k), k);
});
