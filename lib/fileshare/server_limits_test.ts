/**
 * Regression tests for the security review of the file-share server (limits and
 * cleanup): each test fails on the code before its fix.
 */
import assert from "node:assert/strict";
import { RawClient, startServer } from "./_test_util.ts";

/** Total bytes of the regular files directly in `dir`. */
async function bytesIn(dir: string): Promise<number> {
  let total = 0;
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) total += (await Deno.stat(`${dir}/${e.name}`)).size;
  }
  return total;
}

Deno.test("limits: parallel uploads cannot pass maxTotalSize, and the reservation never goes negative", async () => {
  const h = await startServer([
    { name: "s", writable: true, allowDelete: true, maxTotalSize: 1_000_000 },
  ]);
  const root = h.shares[0].path;
  // Some files, so that measuring the usage takes several awaits.
  for (let i = 0; i < 50; i++) await Deno.writeTextFile(`${root}/pad${i}.txt`, "p");
  const cs = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(h.port)));
  try {
    const rs = await Promise.all(
      cs.map((c, i) => c.write("s", `f${i}.txt`, new Uint8Array(600_000))),
    );
    assert.equal(rs.filter((r) => r.ok).length, 1, JSON.stringify(rs));
    for (const r of rs.filter((r) => !r.ok)) {
      assert.equal(r.error, "would exceed total size limit");
    }
    assert.ok((await bytesIn(root)) <= 1_000_000);
    for (let i = 0; i < 4; i++) {
      await cs[0].request({ op: "delete", share: "s", path: `f${i}.txt` });
    }
    // A negative reservation would let this through.
    const big = await cs[0].write("s", "big.txt", new Uint8Array(2_500_000));
    assert.deepEqual(big, { ok: false, error: "would exceed total size limit" });
  } finally {
    cs.forEach((c) => c.close());
    await h.close();
  }
});
