import assert from "node:assert/strict";
import { ConfigError, readYamlFile, writeFileAtomic, writeYamlFile } from "./files.ts";

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
