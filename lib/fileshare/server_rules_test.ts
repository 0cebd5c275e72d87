/**
 * Each share rule (spec §2.9; book Appendix B `shares:`) and each operation (spec §2.6)
 * against a real agent server on loopback, with real files: the agent enforces everything,
 * whatever the client sends.
 */
import assert from "node:assert/strict";
import { names, RawClient, sha256, startServer, withClient } from "./_test_util.ts";
import { CHUNK_END, chunkHeader, encodeRequest, frameChunks } from "./protocol.ts";

const te = new TextEncoder();
const bytes = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

Deno.test("read-only share: every write operation is refused with a clear error, reads work", async () => {
  const h = await startServer([{ name: "logs" }]);
  try {
    await Deno.writeTextFile(`${h.dir}/logs/app.log`, "line\n");
    await Deno.mkdir(`${h.dir}/logs/old`);
    await withClient(h.port, async (c) => {
      const ro = { ok: false, error: "file sharing is read-only" };
      assert.deepEqual(await c.write("logs", "new.txt", te.encode("x")), ro);
      // The refused write's data was read and dropped: the connection still works.
      assert.deepEqual(await c.request({ op: "mkdir", share: "logs", path: "d" }), ro);
      assert.deepEqual(
        await c.request({ op: "rename", share: "logs", path: "app.log", newName: "b.log" }),
        ro,
      );
      assert.deepEqual(
        await c.request({ op: "move", share: "logs", path: "app.log", newPath: "old/app.log" }),
        ro,
      );
      assert.deepEqual(await c.request({ op: "delete", share: "logs", path: "app.log" }), {
        ok: false,
        error: "delete not allowed",
      });
      assert.deepEqual(await c.write("logs", "app.log", te.encode("overwrite")), ro);
      const r = await c.read("logs", "app.log");
      assert.equal(new TextDecoder().decode(r.data), "line\n");
      assert.equal(r.head.checksum, `sha256:${sha256(te.encode("line\n"))}`);
      const ls = await c.request({ op: "list-shares" });
      assert.deepEqual(ls, { ok: true, shares: [{ name: "logs" }] });
    });
    assert.deepEqual(await names(`${h.dir}/logs`), ["app.log", "old"]);
    assert.equal(await Deno.readTextFile(`${h.dir}/logs/app.log`), "line\n");
  } finally {
    await h.close();
  }
});

Deno.test("allowDelete: refused without it; with it files and empty directories go, full ones stay", async () => {
  const h = await startServer([
    { name: "keep", writable: true },
    { name: "bin", writable: true, allowDelete: true },
  ]);
  try {
    for (const s of ["keep", "bin"]) {
      await Deno.writeTextFile(`${h.dir}/${s}/a.txt`, "a");
      await Deno.mkdir(`${h.dir}/${s}/empty`);
      await Deno.mkdir(`${h.dir}/${s}/full`);
      await Deno.writeTextFile(`${h.dir}/${s}/full/f.txt`, "f");
      await Deno.writeTextFile(`${h.dir}/${s}/x.exe`, "MZ");
    }
    await withClient(h.port, async (c) => {
      for (const p of ["a.txt", "empty", "full"]) {
        assert.deepEqual(await c.request({ op: "delete", share: "keep", path: p }), {
          ok: false,
          error: "delete not allowed",
        });
      }
      assert.deepEqual(await c.request({ op: "delete", share: "bin", path: "a.txt" }), {
        ok: true,
      });
      assert.deepEqual(await c.request({ op: "delete", share: "bin", path: "empty" }), {
        ok: true,
      });
      assert.deepEqual(await c.request({ op: "delete", share: "bin", path: "full" }), {
        ok: false,
        error: "delete failed",
      });
      assert.deepEqual(await c.request({ op: "delete", share: "bin", path: "gone.txt" }), {
        ok: false,
        error: "file not found",
      });
      // Spec §2.6 delete step 5: a blocked extension cannot be deleted either.
      assert.deepEqual(await c.request({ op: "delete", share: "bin", path: "x.exe" }), {
        ok: false,
        error: "file extension not allowed",
      });
      assert.deepEqual(await c.request({ op: "list-shares" }), {
        ok: true,
        shares: [{ name: "keep", writable: true }, {
          name: "bin",
          writable: true,
          allowDelete: true,
        }],
      });
    });
    assert.deepEqual(await names(`${h.dir}/keep`), ["a.txt", "empty", "full", "x.exe"]);
    assert.deepEqual(await names(`${h.dir}/bin`), ["full", "x.exe"]);
  } finally {
    await h.close();
  }
});

Deno.test("maxFileSize: a byte over is refused before any data is stored; exactly the limit is fine", async () => {
  const h = await startServer([{ name: "s", writable: true, maxFileSize: "1KB" }]);
  try {
    await withClient(h.port, async (c) => {
      assert.deepEqual(await c.write("s", "big.bin", bytes(1025)), {
        ok: false,
        error: "file too large (max 1024 bytes)",
      });
      assert.deepEqual(await c.write("s", "ok.bin", bytes(1024)), { ok: true, size: 1024 });
      // A client that declares less than it sends is cut off, nothing is stored.
      await c.send(encodeRequest({ op: "write", share: "s", path: "liar.bin", size: 10 }));
      await c.send(frameChunks(bytes(2000)));
      await c.send(CHUNK_END);
      assert.deepEqual(await c.response(), {
        ok: false,
        error: "received more data than declared size",
      });
      // ...and the connection is closed after a mid-stream failure.
      assert.equal(await c.response(), null);
    });
    assert.deepEqual(await names(`${h.dir}/s`), ["ok.bin"]);
  } finally {
    await h.close();
  }
});

Deno.test("maxTotalSize: an upload that would pass the total is refused; concurrent uploads reserve their size", async () => {
  const h = await startServer([{ name: "s", writable: true, maxTotalSize: "10KB" }]);
  try {
    await Deno.writeFile(`${h.dir}/s/existing.bin`, bytes(6 * 1024));
    await withClient(h.port, async (c) => {
      assert.deepEqual(await c.write("s", "b.bin", bytes(5 * 1024)), {
        ok: false,
        error: "would exceed total size limit",
      });
      assert.deepEqual(await c.write("s", "c.bin", bytes(4 * 1024)), { ok: true, size: 4096 });
      assert.deepEqual(await c.write("s", "d.bin", bytes(1)), {
        ok: false,
        error: "would exceed total size limit",
      });
    });
    await Deno.remove(`${h.dir}/s/c.bin`);
    // Two uploads of 3 KiB start together with 4 KiB free: the second one is refused.
    const a = await RawClient.connect(h.port), b = await RawClient.connect(h.port);
    try {
      await a.send(encodeRequest({ op: "write", share: "s", path: "a.bin", size: 3072 }));
      await a.send(chunkHeader(1024));
      await a.send(bytes(1024));
      // Let the server take a's reservation before b asks.
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await b.write("s", "b.bin", bytes(3072)), {
        ok: false,
        error: "would exceed total size limit",
      });
      await a.send(frameChunks(bytes(2048)));
      await a.send(CHUNK_END);
      assert.deepEqual(await a.response(), { ok: true, size: 3072 });
    } finally {
      a.close();
      b.close();
    }
    assert.deepEqual(await names(`${h.dir}/s`), ["a.bin", "existing.bin"]);
  } finally {
    await h.close();
  }
});

Deno.test("extensions: allowed and blocked lists hold on upload, rename and move", async () => {
  const h = await startServer([
    { name: "zips", writable: true, allowedExtensions: [".zip", ".yaml"] },
    { name: "nosh", writable: true, blockedExtensions: [".sh"], allowedExtensions: [] },
  ]);
  try {
    await Deno.writeTextFile(`${h.dir}/zips/a.zip`, "z");
    await Deno.mkdir(`${h.dir}/zips/dir`);
    await Deno.writeTextFile(`${h.dir}/nosh/a.txt`, "t");
    await Deno.mkdir(`${h.dir}/nosh/dir`);
    const no = { ok: false, error: "file extension not allowed" };
    await withClient(h.port, async (c) => {
      assert.deepEqual(await c.write("zips", "b.zip", te.encode("z")), { ok: true, size: 1 });
      assert.deepEqual(await c.write("zips", "c.YAML", te.encode("y")), { ok: true, size: 1 });
      assert.deepEqual(await c.write("zips", "d.txt", te.encode("t")), no);
      assert.deepEqual(await c.write("zips", "noext", te.encode("t")), no);
      assert.deepEqual(
        await c.request({ op: "rename", share: "zips", path: "a.zip", newName: "a.txt" }),
        no,
      );
      assert.deepEqual(
        await c.request({ op: "move", share: "zips", path: "a.zip", newPath: "dir/a.exe" }),
        no,
      );
      assert.deepEqual(
        await c.request({ op: "move", share: "zips", path: "a.zip", newPath: "dir" }),
        { ok: true },
      );
      // Directories have no extension rule: a folder may be renamed freely.
      assert.deepEqual(
        await c.request({ op: "rename", share: "zips", path: "dir", newName: "folder.d" }),
        { ok: true },
      );
      // Only .sh blocked here (an explicit list replaces the default one).
      assert.deepEqual(await c.write("nosh", "run.sh", te.encode("#!")), no);
      assert.deepEqual(await c.write("nosh", "tool.exe", te.encode("MZ")), { ok: true, size: 2 });
      assert.deepEqual(
        await c.request({ op: "rename", share: "nosh", path: "a.txt", newName: "a.SH" }),
        no,
      );
      assert.deepEqual(
        await c.request({ op: "move", share: "nosh", path: "a.txt", newPath: "dir/a.sh" }),
        no,
      );
    });
    assert.deepEqual(await names(`${h.dir}/zips`), ["b.zip", "c.YAML", "folder.d"]);
    assert.deepEqual(await names(`${h.dir}/zips/folder.d`), ["a.zip"]);
    assert.deepEqual(await names(`${h.dir}/nosh`), ["a.txt", "dir", "tool.exe"]);
  } finally {
    await h.close();
  }
});

Deno.test("write: no partial file ever replaces a whole one (interrupted, short, bad checksum, bad chunk)", async () => {
  const h = await startServer([{ name: "s", writable: true }]);
  const original = bytes(50_000, 7);
  try {
    await Deno.writeFile(`${h.dir}/s/f.bin`, original);
    const fresh = bytes(100_000, 9);
    // 1. The client goes away mid-stream.
    const a = await RawClient.connect(h.port);
    await a.send(encodeRequest({ op: "write", share: "s", path: "f.bin", size: fresh.length }));
    await a.send(frameChunks(fresh.subarray(0, 40_000)));
    await new Promise((r) => setTimeout(r, 200));
    // While the upload runs its temp file exists beside the target, under another name.
    assert.ok((await names(`${h.dir}/s`)).some((n) => n.startsWith(".tela-upload-")));
    a.close();
    await new Promise((r) => setTimeout(r, 300));
    await withClient(h.port, async (c) => {
      // 2. Fewer bytes than declared.
      assert.deepEqual(await c.write("s", "f.bin", fresh.subarray(0, 1000), { size: 2000 }), {
        ok: false,
        error: "size mismatch: expected 2000, got 1000",
      });
      // 3. A checksum that does not match (uppercase hex counts as different, like Go).
      assert.deepEqual(
        await c.write("s", "f.bin", fresh, {
          checksum: `sha256:${sha256(fresh).toUpperCase()}`,
        }),
        { ok: false, error: "checksum mismatch" },
      );
      // 4. Zero bytes are refused (Q-FS-5).
      assert.deepEqual(await c.write("s", "g.bin", new Uint8Array(0)), {
        ok: false,
        error: "size required",
      });
    });
    for (
      const [bad, err] of [
        ["CHUNK 16385\n", "chunk too large"],
        ["CHUNK x\n", "invalid chunk size"],
        ["DATA 5\n", "expected CHUNK header"],
        ["CHUNK -1\n", "incomplete chunk"],
      ] as const
    ) {
      await withClient(h.port, async (c) => {
        await c.send(encodeRequest({ op: "write", share: "s", path: "f.bin", size: 100 }));
        await c.send(bad);
        assert.deepEqual(await c.response(), { ok: false, error: err }, bad);
      });
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await Deno.readFile(`${h.dir}/s/f.bin`), original);
    assert.deepEqual(await names(`${h.dir}/s`), ["f.bin"]);
    // A good upload replaces it, and the checksum is what arrived.
    await withClient(h.port, async (c) => {
      assert.deepEqual(await c.write("s", "f.bin", fresh), { ok: true, size: fresh.length });
    });
    assert.deepEqual(await Deno.readFile(`${h.dir}/s/f.bin`), fresh);
    assert.equal((await Deno.stat(`${h.dir}/s/f.bin`)).mode! & 0o777, 0o600);
  } finally {
    await h.close();
  }
});

Deno.test("operations: list order and pagination, read checksum and zero-byte files, mkdir, rename, move", async () => {
  const h = await startServer([{ name: "s", writable: true }]);
  try {
    const d = `${h.dir}/s`;
    for (const n of ["b.txt", "B.txt", "a.txt", "\u00e9.txt", "z"]) {
      await Deno.writeTextFile(`${d}/${n}`, n);
    }
    await Deno.writeFile(`${d}/empty.txt`, new Uint8Array(0));
    await Deno.mkdir(`${d}/dir`);
    await withClient(h.port, async (c) => {
      const all = await c.request({ op: "list", share: "s", path: "" });
      // Byte-wise order, as Go's os.ReadDir.
      assert.deepEqual(all.entries?.map((e) => e.name), [
        "B.txt",
        "a.txt",
        "b.txt",
        "dir",
        "empty.txt",
        "z",
        "\u00e9.txt",
      ]);
      assert.equal(all.total, 7);
      const e = all.entries!.find((x) => x.name === "a.txt")!;
      assert.match(e.modTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.deepEqual(Object.keys(e), ["name", "size", "modTime", "isDir"]);
      assert.equal(all.entries!.find((x) => x.name === "dir")!.isDir, true);
      const page = await c.request({ op: "list", share: "s", path: "", offset: 2, limit: 2 });
      assert.deepEqual(page.entries?.map((x) => x.name), ["b.txt", "dir"]);
      assert.equal(page.total, 7);
      assert.deepEqual(await c.request({ op: "list", share: "s", path: "nope" }), {
        ok: false,
        error: "cannot read directory",
      });
      // A zero-byte file: no size key, and still CHUNK 0.
      const z = await c.read("s", "empty.txt");
      assert.equal(z.head.size, undefined);
      assert.equal(z.data?.length, 0);
      assert.equal(z.head.checksum, `sha256:${sha256(new Uint8Array(0))}`);
      assert.deepEqual((await c.read("s", "dir")).head, {
        ok: false,
        error: "cannot read a directory",
      });
      assert.deepEqual((await c.read("s", "")).head, { ok: false, error: "path required" });
      assert.deepEqual(await c.request({ op: "mkdir", share: "s", path: "dir" }), {
        ok: false,
        error: "directory already exists",
      });
      // Missing parents are made (server_mkdir_test.ts has the details).
      assert.deepEqual(await c.request({ op: "mkdir", share: "s", path: "x/y" }), { ok: true });
      await Deno.remove(`${d}/x/y`);
      const again = await c.request({ op: "mkdir", share: "s", path: "x" });
      assert.equal(again.error, "directory already exists");
      assert.ok(!again.error!.includes(h.dir), "no host path in errors");
      assert.deepEqual(
        await c.request({ op: "rename", share: "s", path: "a.txt", newName: "b.txt" }),
        { ok: false, error: "destination already exists" },
      );
      assert.deepEqual(
        await c.request({ op: "rename", share: "s", path: "a.txt", newName: "sub/b.txt" }),
        { ok: false, error: "newName must be a filename, not a path" },
      );
      assert.deepEqual(
        await c.request({ op: "rename", share: "s", path: "nope.txt", newName: "c.txt" }),
        { ok: false, error: "source not found" },
      );
      assert.deepEqual(await c.request({ op: "rename", share: "s", path: "a.txt" }), {
        ok: false,
        error: "path and newName required",
      });
      assert.deepEqual(
        await c.request({ op: "rename", share: "s", path: "a.txt", newName: "c.txt" }),
        { ok: true },
      );
      assert.deepEqual(await c.request({ op: "move", share: "s", path: "c.txt", newPath: "x" }), {
        ok: true,
      });
      assert.deepEqual(
        await c.request({ op: "move", share: "s", path: "b.txt", newPath: "x/c.txt" }),
        { ok: false, error: "destination already exists" },
      );
      assert.deepEqual(
        await c.request({ op: "move", share: "s", path: "b.txt", newPath: "q/b.txt" }),
        { ok: false, error: "destination directory does not exist" },
      );
      assert.deepEqual(await c.request({ op: "move", share: "s", path: "x", newPath: "x/in" }), {
        ok: false,
        error: "cannot move a directory into itself",
      });
      assert.deepEqual(await c.request({ op: "move", share: "s", path: "b.txt" }), {
        ok: false,
        error: "path and newPath required",
      });
      // Dispatch errors (spec §2.5).
      assert.deepEqual(await c.request({ op: "list" }), {
        ok: false,
        error: "share name required",
      });
      assert.deepEqual(await c.request({ op: "list", share: "t" }), {
        ok: false,
        error: "unknown share: t",
      });
      assert.deepEqual(await c.request({ op: "chmod", share: "s", path: "z" }), {
        ok: false,
        error: "unknown operation: chmod",
      });
      await c.send("not json\n");
      assert.deepEqual(await c.response(), { ok: false, error: "invalid request" });
      await c.send("\n");
      assert.deepEqual(await c.response(), { ok: false, error: "invalid request" });
    });
    assert.deepEqual(await names(`${d}/x`), ["c.txt"]);
    assert.ok(h.log.lines.some((l) => l.startsWith('[fileshare] rename "a.txt" -> "c.txt"')));
    assert.ok(h.log.lines.some((l) => /^\[fileshare\] list "": 7 entries \(total 7/.test(l)));
  } finally {
    await h.close();
  }
});

Deno.test("connections: a fifth concurrent one is closed without a byte (spec §2.1)", async () => {
  const h = await startServer([{ name: "s" }]);
  const open: RawClient[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const c = await RawClient.connect(h.port);
      open.push(c);
      assert.equal((await c.request({ op: "list-shares" })).ok, true);
    }
    const fifth = await RawClient.connect(h.port);
    open.push(fifth);
    await fifth.send(encodeRequest({ op: "list-shares" })).catch(() => {});
    assert.equal(await fifth.response().catch(() => null), null);
    assert.ok(h.log.lines.includes("[fileshare] connection limit reached, rejecting"));
    open[0].close();
    await new Promise((r) => setTimeout(r, 200));
    await withClient(h.port, async (c) => {
      assert.equal((await c.request({ op: "list-shares" })).ok, true);
    });
  } finally {
    for (const c of open) c.close();
    await h.close();
  }
});

Deno.test("a 4 MiB file both ways is byte-exact with the agent's checksum", async () => {
  const h = await startServer([{ name: "s", writable: true }]);
  try {
    const data = bytes(4 * 1024 * 1024 + 123, 3);
    await withClient(h.port, async (c) => {
      assert.deepEqual(await c.write("s", "deep/er/big.bin", data), {
        ok: true,
        size: data.length,
      });
      const r = await c.read("s", "deep/er/big.bin");
      assert.equal(r.head.size, data.length);
      assert.equal(r.head.checksum, `sha256:${sha256(data)}`);
      assert.equal(sha256(r.data!), sha256(data));
    });
    assert.equal((await Deno.stat(`${h.dir}/s/deep/er`)).mode! & 0o777, 0o700);
  } finally {
    await h.close();
  }
});
