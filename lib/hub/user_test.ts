import assert from "node:assert/strict";
import { ConfigError } from "../config/mod.ts";
import { showOwnerToken, showViewerToken, userConfigPath } from "./user.ts";
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
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("show-owner without an owner (or without a file) throws TokenNotFoundError (`no owner token found`)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/telahubd.yaml`;
    await assert.rejects(showOwnerToken(path), TokenNotFoundError); // no file
    await Deno.writeTextFile(
      path,
      "auth:\n  tokens:\n    - {id: v, token: vvvv, hubRole: viewer}\n",
    );
    await assert.rejects(showOwnerToken(path), { message: `no owner token found in ${path}` });
    await Deno.writeTextFile(path, "auth: [\n");
    await assert.rejects(showViewerToken(path), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /telahubd\.yaml: invalid YAML/);
      return true;
    });
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
