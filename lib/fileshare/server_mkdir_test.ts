/**
 * `mkdir` makes missing parents within the share (`tela files mkdir archive/2026` with no
 * `archive` yet, the book's example), against a real agent server on loopback.
 */
import assert from "node:assert/strict";
import { startServer, withClient } from "./_test_util.ts";

Deno.test("mkdir: makes missing parents; an existing directory and a link out are refused", async () => {
  const h = await startServer([{ name: "files", writable: true }]);
  const outside = await Deno.makeTempDir({ prefix: "fixux-mkdir-out-" });
  try {
    await Deno.symlink(outside, `${h.dir}/files/out`);
    await withClient(h.port, async (c) => {
      assert.deepEqual(
        await c.request({ op: "mkdir", share: "files", path: "archive/2026" }),
        { ok: true },
      );
      assert.ok((await Deno.stat(`${h.dir}/files/archive/2026`)).isDirectory);
      assert.deepEqual(
        await c.request({ op: "mkdir", share: "files", path: "archive/2026" }),
        { ok: false, error: "directory already exists" },
      );
      const r = await c.request({ op: "mkdir", share: "files", path: "out/a/b" });
      assert.equal(r.ok, false, JSON.stringify(r));
    });
    assert.deepEqual([...Deno.readDirSync(outside)], [], "nothing made through the link");
  } finally {
    await h.close();
    await Deno.remove(outside, { recursive: true });
  }
});
