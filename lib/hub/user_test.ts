import assert from "node:assert/strict";
import { runShowToken, showOwnerToken, showViewerToken, userConfigPath } from "./user.ts";
import { TokenNotFoundError } from "./errors.ts";

Deno.test("show-owner prints the first owner's token; show-viewer the first viewer's", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/telahubd.yaml`;
    await Deno.writeTextFile(
      path,
      [
        "auth:",
        "  tokens:",
        "    - {id: alice, token: aaaa, hubRole: admin}",
        "    - {id: owner, token: oooo, hubRole: owner}",
        "    - {id: console-viewer, token: vvvv, hubRole: viewer}",
        "    - {id: owner2, token: pppp, hubRole: owner}",
        "",
      ].join("\n"),
    );
    assert.equal(await showOwnerToken(path), "oooo");
    assert.equal(await showViewerToken(path), "vvvv");
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) };
    assert.equal(await runShowToken("owner", path, io), 0);
    assert.deepEqual([out, err], [["oooo"], []]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("show-owner without an owner (or without a file) says `no owner token found`, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/telahubd.yaml`;
    await assert.rejects(showOwnerToken(path), TokenNotFoundError); // no file
    await Deno.writeTextFile(
      path,
      "auth:\n  tokens:\n    - {id: v, token: vvvv, hubRole: viewer}\n",
    );
    await assert.rejects(showOwnerToken(path), { message: "no owner token found" });
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) };
    assert.equal(await runShowToken("owner", path, io), 1);
    assert.deepEqual([out, err], [[], ["no owner token found"]]);
    await Deno.writeTextFile(path, "auth: [\n");
    assert.equal(await runShowToken("viewer", path, io), 1);
    assert.match(err[1], /telahubd\.yaml: invalid YAML/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("user commands find the config by -config, then TELAHUBD_CONFIG, then ./data", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = (v?: string) => (n: string) => n === "TELAHUBD_CONFIG" ? v : undefined;
    assert.equal(userConfigPath("x.yaml", dir, env("/e.yaml")), `${dir}/x.yaml`);
    assert.equal(userConfigPath(undefined, dir, env("e.yaml")), `${dir}/e.yaml`);
    await Deno.mkdir(`${dir}/data`);
    await Deno.writeTextFile(`${dir}/data/telahubd.yaml`, "");
    assert.equal(userConfigPath(undefined, dir, env()), `${dir}/data/telahubd.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
