import assert from "node:assert/strict";
import {
  ConfigError,
  readYamlFile,
  removeStaleTempFiles,
  writeFileAtomic,
  writeYamlFile,
} from "./files.ts";

Deno.test("writeYamlFile writes 0600 atomically and readYamlFile reads it back", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/sub/cfg.yaml`;
  await writeYamlFile(path, { hub: "wss://h", ports: [22, 80] });
  assert.deepEqual(await readYamlFile(path), { hub: "wss://h", ports: [22, 80] });
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  assert.deepEqual([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["cfg.yaml"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a missing file reads as undefined; malformed YAML throws ConfigError naming the file", async () => {
  const dir = await Deno.makeTempDir();
  assert.equal(await readYamlFile(`${dir}/none.yaml`), undefined);
  await writeFileAtomic(`${dir}/bad.yaml`, "a: [1, 2\n");
  await assert.rejects(
    readYamlFile(`${dir}/bad.yaml`),
    (e) => e instanceof ConfigError && e.message.includes("bad.yaml"),
  );
  await writeFileAtomic(`${dir}/list.yaml`, "- 1\n- 2\n");
  await assert.rejects(readYamlFile(`${dir}/list.yaml`), /mapping/);
  assert.equal(await Deno.readTextFile(`${dir}/bad.yaml`), "a: [1, 2\n");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeFileAtomic honours an explicit mode", async () => {
  const dir = await Deno.makeTempDir();
  await writeFileAtomic(`${dir}/pub.txt`, "x", { mode: 0o644 });
  assert.equal((await Deno.stat(`${dir}/pub.txt`)).mode! & 0o777, 0o644);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("removeStaleTempFiles removes only leftovers of interrupted atomic writes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const stale = [
      ".telahubd.yaml.tmp-1a2b3c4d",
      ".telahubd.history.json.tmp-00ff00ff",
      ".9f8e7d6c.tmp",
    ];
    const kept = [
      "telahubd.yaml",
      ".hidden",
      "notes.tmp-1a2b3c4d",
      ".x.tmp-zz",
      ".telahubd.yaml.tmp",
    ];
    for (const n of [...stale, ...kept]) await Deno.writeTextFile(`${dir}/${n}`, "owner: secret");
    await Deno.mkdir(`${dir}/.d.tmp-1a2b3c4d`);
    assert.deepEqual((await removeStaleTempFiles(dir)).sort(), [...stale].sort());
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(left, [...kept, ".d.tmp-1a2b3c4d"].sort());
    assert.deepEqual(await removeStaleTempFiles(`${dir}/missing`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic's temp file name is one removeStaleTempFiles recognises", async () => {
  const dir = await Deno.makeTempDir();
  const realRename = Deno.rename;
  let tempPath = "";
  try {
    // Watch the rename that ends the write to learn the temp file's name.
    Deno.rename = (from, to) => {
      tempPath = String(from);
      return realRename(from, to);
    };
    await writeFileAtomic(`${dir}/telahubd.yaml`, "x");
    Deno.rename = realRename;
    const name = tempPath.slice(dir.length + 1);
    assert.match(name, /^\.telahubd\.yaml\.tmp-[0-9a-f]{8}$/);
    await Deno.writeTextFile(`${dir}/${name}`, "left over by a crash");
    assert.deepEqual(await removeStaleTempFiles(dir), [name]);
    assert.equal(await Deno.readTextFile(`${dir}/telahubd.yaml`), "x");
  } finally {
    Deno.rename = realRename;
    await Deno.remove(dir, { recursive: true });
  }
});
