import assert from "node:assert/strict";
import { manualMountLines, MountPointError, mountPort, validateMountPoint } from "./mount.ts";

Deno.test("mountPort: -port wins over TELA_MOUNT_PORT (flag > env; Go's quirk not copied)", () => {
  assert.equal(mountPort(undefined, undefined), 18080);
  assert.equal(mountPort(9999, undefined), 9999);
  assert.equal(mountPort(9999, "12345"), 9999);
  assert.equal(mountPort(undefined, "12345"), 12345);
  assert.equal(mountPort(undefined, "abc"), 18080);
  assert.equal(mountPort(undefined, ""), 18080);
});

Deno.test("validateMountPoint: the texts of spec §4.5", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mount-validate-" });
  try {
    assert.equal(await validateMountPoint(`${dir}/new`, "linux"), `${dir}/new`);
    assert.equal(await validateMountPoint(dir, "linux"), dir);
    await Deno.writeTextFile(`${dir}/f`, "x");
    await assert.rejects(validateMountPoint(dir, "linux"), /is not empty \(1 items\)/);
    await assert.rejects(validateMountPoint(`${dir}/f`, "linux"), /exists and is not a directory/);
    await assert.rejects(
      validateMountPoint(`${dir}/f/x`, "linux"),
      /parent path .* is not a directory/,
    );
    await assert.rejects(
      validateMountPoint(`${dir}/no/x`, "linux"),
      /parent directory .* does not exist/,
    );
    assert.equal(await validateMountPoint("t", "windows"), "T:");
    assert.equal(await validateMountPoint("T:", "windows"), "T:");
    await assert.rejects(validateMountPoint("C:\\x", "windows"), MountPointError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manualMountLines: the book's commands per OS", () => {
  assert.deepEqual(manualMountLines(18080, "windows"), ["  net use T: http://127.0.0.1:18080/"]);
  assert.deepEqual(manualMountLines(1, "darwin"), [
    "  mount_webdav http://127.0.0.1:1/ /Volumes/tela",
  ]);
  assert.deepEqual(manualMountLines(2, "linux"), [
    "  mount -t davfs http://127.0.0.1:2/ /mnt/tela",
    "  gio mount dav://127.0.0.1:2/",
  ]);
});
