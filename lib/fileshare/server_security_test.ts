/**
 * The share sandbox against a real agent server (issue 12 item 4; book, *File sharing*,
 * Security; spec §2.7): each trick is its own test, with real files in a temporary folder
 * and `outside/secret.txt` beside the share that no request may read, write or list.
 *
 * "Case tricks" on this (case-sensitive) Linux file system: a blocked extension written in
 * another case (`.EXE`, `.Exe`) is still blocked on every write path; `Secret.txt` does not
 * reach `secret.txt`; a share name in another case is another (unknown) share. On a
 * case-insensitive file system the extension rule is the same (it lowercases); names alias
 * there as the OS decides, inside the share only.
 */
import assert from "node:assert/strict";
import { names, RawClient, startServer, withClient } from "./_test_util.ts";
import type { ShareRequest } from "./protocol.ts";

const SECRET = "TOP SECRET\n";

/** Every operation with `path` set to `p` (and `newPath` for move). */
function everyOp(share: string, p: string): ShareRequest[] {
  return [
    { op: "list", share, path: p },
    { op: "read", share, path: p },
    { op: "delete", share, path: p },
    { op: "mkdir", share, path: p },
    { op: "rename", share, path: p, newName: "x.txt" },
    { op: "move", share, path: p, newPath: "x.txt" },
    { op: "move", share, path: "in.txt", newPath: p },
  ];
}

/** Asserts that the secret beside the share is unchanged and nothing new is outside. */
async function outsideUntouched(dir: string) {
  assert.equal(await Deno.readTextFile(`${dir}/outside/secret.txt`), SECRET);
  assert.deepEqual(await names(`${dir}/outside`), ["secret.txt"]);
  assert.deepEqual((await names(dir)).filter((n) => n !== "docs"), ["outside"]);
}

async function setup() {
  const h = await startServer([{ name: "docs", writable: true, allowDelete: true }]);
  await Deno.writeTextFile(`${h.dir}/docs/in.txt`, "inside\n");
  return h;
}

Deno.test("sandbox: '..' is refused on every operation, write included", async () => {
  const h = await setup();
  try {
    await withClient(h.port, async (c) => {
      for (const p of ["../outside/secret.txt", "a/../../outside", "..", "a/..b", "./../x"]) {
        for (const req of everyOp("docs", p)) {
          const r = await c.request(req);
          const want = req.op === "move" && req.path === "in.txt"
            ? "destination: path traversal not allowed"
            : req.op === "move"
            ? "source: path traversal not allowed"
            : "path traversal not allowed";
          assert.deepEqual(r, { ok: false, error: want }, `${JSON.stringify(req)}`);
        }
        assert.deepEqual(
          await c.write("docs", p, new TextEncoder().encode("pwned")),
          { ok: false, error: "path traversal not allowed" },
        );
        const r = await c.request({ op: "rename", share: "docs", path: "in.txt", newName: ".." });
        assert.equal(r.error, "path traversal not allowed");
      }
    });
    await outsideUntouched(h.dir);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: %2e%2e is a literal name, never decoded into '..'", async () => {
  const h = await setup();
  try {
    await withClient(h.port, async (c) => {
      const r = await c.read("docs", "%2e%2e/outside/secret.txt");
      assert.deepEqual(r.head, { ok: false, error: "file not found" });
      const r2 = await c.read("docs", "%2E%2E%2Foutside%2Fsecret.txt");
      assert.deepEqual(r2.head, { ok: false, error: "file not found" });
      // Writing such a name stays inside: a folder literally named %2e%2e.
      const w = await c.write("docs", "%2e%2e/x.txt", new TextEncoder().encode("in"));
      assert.deepEqual(w, { ok: true, size: 2 });
      assert.equal(await Deno.readTextFile(`${h.dir}/docs/%2e%2e/x.txt`), "in");
    });
    await outsideUntouched(h.dir);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: absolute paths are relative to the share root", async () => {
  const h = await setup();
  try {
    await withClient(h.port, async (c) => {
      assert.deepEqual((await c.read("docs", "/etc/passwd")).head, {
        ok: false,
        error: "file not found",
      });
      assert.deepEqual((await c.read("docs", `${h.dir}/outside/secret.txt`)).head, {
        ok: false,
        error: "file not found",
      });
      const r = await c.read("docs", "/in.txt");
      assert.equal(new TextDecoder().decode(r.data), "inside\n");
      const w = await c.write("docs", "/etc/passwd", new TextEncoder().encode("x"));
      assert.deepEqual(w, { ok: true, size: 1 });
      assert.equal(await Deno.readTextFile(`${h.dir}/docs/etc/passwd`), "x");
      const l = await c.request({ op: "list", share: "docs", path: "/" });
      assert.deepEqual(l.entries?.map((e) => e.name), ["etc", "in.txt"]);
    });
    await outsideUntouched(h.dir);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: backslashes are refused (no Windows-style separators or traversal)", async () => {
  const h = await setup();
  try {
    await withClient(h.port, async (c) => {
      assert.equal(
        (await c.read("docs", "..\\outside\\secret.txt")).head.error,
        "path traversal not allowed",
      );
      for (const req of everyOp("docs", "sub\\in.txt")) {
        const r = await c.request(req);
        assert.equal(r.ok, false);
        assert.match(r.error!, /backslash in path/, JSON.stringify(req));
      }
      const w = await c.write("docs", "a\\b.txt", new TextEncoder().encode("x"));
      assert.match(w.error!, /path validation failed: backslash in path/);
      const rn = await c.request({ op: "rename", share: "docs", path: "in.txt", newName: "a\\b" });
      assert.equal(rn.error, "newName must be a filename, not a path");
    });
    assert.deepEqual(await names(`${h.dir}/docs`), ["in.txt"]);
    await outsideUntouched(h.dir);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: symlinks out of the share are never followed (last component, parent, any level)", async () => {
  const h = await setup();
  try {
    const d = `${h.dir}/docs`;
    await Deno.symlink(`${h.dir}/outside/secret.txt`, `${d}/link.txt`);
    await Deno.symlink(`${h.dir}/outside`, `${d}/out`);
    await Deno.mkdir(`${d}/a/b`, { recursive: true });
    await Deno.symlink(`${h.dir}/outside`, `${d}/a/b/deep`);
    await withClient(h.port, async (c) => {
      const refused = { ok: false, error: "symlinks not allowed" };
      assert.deepEqual((await c.read("docs", "link.txt")).head, refused);
      assert.deepEqual((await c.read("docs", "out/secret.txt")).head, refused);
      // Q-FS-1 fixed: a link two levels up is caught too.
      assert.deepEqual((await c.read("docs", "a/b/deep/secret.txt")).head, refused);
      assert.deepEqual(await c.request({ op: "list", share: "docs", path: "out" }), refused);
      assert.deepEqual(await c.request({ op: "list", share: "docs", path: "a/b/deep" }), refused);
      assert.deepEqual(
        await c.write("docs", "out/new.txt", new TextEncoder().encode("x")),
        refused,
      );
      assert.deepEqual(
        await c.write("docs", "a/b/deep/secret.txt", new TextEncoder().encode("x")),
        refused,
      );
      assert.deepEqual(await c.write("docs", "link.txt", new TextEncoder().encode("x")), refused);
      assert.deepEqual(await c.request({ op: "delete", share: "docs", path: "link.txt" }), refused);
      assert.deepEqual(await c.request({ op: "mkdir", share: "docs", path: "out/x" }), refused);
      assert.deepEqual(
        await c.request({ op: "rename", share: "docs", path: "link.txt", newName: "l2.txt" }),
        refused,
      );
      assert.deepEqual(
        await c.request({ op: "move", share: "docs", path: "in.txt", newPath: "out/in.txt" }),
        { ok: false, error: "destination: symlinks not allowed" },
      );
      assert.deepEqual(
        await c.request({ op: "move", share: "docs", path: "in.txt", newPath: "out" }),
        { ok: false, error: "destination: symlinks not allowed" },
      );
      // Links are not listed.
      const l = await c.request({ op: "list", share: "docs", path: "" });
      assert.deepEqual(l.entries?.map((e) => e.name), ["a", "in.txt"]);
      const lb = await c.request({ op: "list", share: "docs", path: "a/b" });
      assert.deepEqual(lb, { ok: true });
    });
    await outsideUntouched(h.dir);
    assert.ok((await Deno.lstat(`${h.dir}/docs/link.txt`)).isSymlink);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: case tricks on a case-sensitive file system (blocked .EXE, Secret vs secret, share name case)", async () => {
  const h = await setup();
  try {
    await Deno.writeTextFile(`${h.dir}/docs/secret.txt`, "lower\n");
    await Deno.writeTextFile(`${h.dir}/docs/tool.txt`, "t\n");
    await Deno.mkdir(`${h.dir}/docs/sub`);
    await withClient(h.port, async (c) => {
      const data = new TextEncoder().encode("MZ");
      for (const name of ["a.EXE", "a.Exe", "b.eXe", "c.SH", "d.Bat", "e.CMD", "f.pS1"]) {
        assert.deepEqual(await c.write("docs", name, data), {
          ok: false,
          error: "file extension not allowed",
        }, name);
        assert.deepEqual(
          await c.request({ op: "rename", share: "docs", path: "tool.txt", newName: name }),
          { ok: false, error: "file extension not allowed" },
          `rename ${name}`,
        );
        assert.deepEqual(
          await c.request({ op: "move", share: "docs", path: "tool.txt", newPath: `sub/${name}` }),
          { ok: false, error: "file extension not allowed" },
          `move ${name}`,
        );
      }
      assert.deepEqual((await c.read("docs", "Secret.txt")).head, {
        ok: false,
        error: "file not found",
      });
      assert.deepEqual((await c.read("docs", "SECRET.TXT")).head.error, "file not found");
      assert.deepEqual(await c.request({ op: "list", share: "DOCS", path: "" }), {
        ok: false,
        error: "unknown share: DOCS",
      });
    });
    assert.deepEqual(await names(`${h.dir}/docs`), ["in.txt", "secret.txt", "sub", "tool.txt"]);
    assert.deepEqual(await names(`${h.dir}/docs/sub`), []);
    await outsideUntouched(h.dir);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: Unicode normalisation forms are distinct names; look-alike dots do not traverse", async () => {
  const h = await setup();
  try {
    const nfc = "caf\u00e9.txt", nfd = "cafe\u0301.txt";
    await Deno.writeTextFile(`${h.dir}/docs/${nfc}`, "nfc\n");
    await withClient(h.port, async (c) => {
      assert.equal(new TextDecoder().decode((await c.read("docs", nfc)).data), "nfc\n");
      // No folding: the NFD spelling is another (missing) file, not an alias.
      assert.deepEqual((await c.read("docs", nfd)).head, { ok: false, error: "file not found" });
      assert.deepEqual(await c.write("docs", nfd, new TextEncoder().encode("nfd\n")), {
        ok: true,
        size: 4,
      });
      // Fullwidth full stops (U+FF0E), one-dot leaders (U+2024), fullwidth solidus (U+FF0F):
      // NFKC would make some of them "../", the OS does not.
      for (
        const p of [
          "\uff0e\uff0e/outside/secret.txt",
          "\u2024\u2024/outside/secret.txt",
          "\uff0e\uff0e\uff0foutside\uff0fsecret.txt",
        ]
      ) {
        assert.deepEqual((await c.read("docs", p)).head, { ok: false, error: "file not found" }, p);
      }
      // Extensions are not normalised either: a fullwidth "ｅｘｅ" is not ".exe" to any OS.
      const l = await c.request({ op: "list", share: "docs", path: "" });
      assert.deepEqual(l.entries?.map((e) => e.name).sort(), [nfc, nfd, "in.txt"].sort());
    });
    assert.equal(await Deno.readTextFile(`${h.dir}/docs/${nfc}`), "nfc\n");
    assert.equal(await Deno.readTextFile(`${h.dir}/docs/${nfd}`), "nfd\n");
    await outsideUntouched(h.dir);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: NUL bytes in paths and names are refused before the OS sees them", async () => {
  const h = await setup();
  try {
    await withClient(h.port, async (c) => {
      const nul = { ok: false, error: "path validation failed: NUL byte in path" };
      for (const req of everyOp("docs", "in.txt\u0000../../outside/secret.txt")) {
        const r = await c.request(req);
        // '..' is checked first (spec order); the NUL alone is refused too.
        assert.equal(r.ok, false);
      }
      for (const req of everyOp("docs", "in.txt\u0000.jpg")) {
        const r = await c.request(req);
        assert.match(r.error!, /NUL byte in path/, JSON.stringify(req));
      }
      assert.deepEqual(await c.write("docs", "a\u0000.txt", new TextEncoder().encode("x")), nul);
      assert.deepEqual(
        await c.request({ op: "rename", share: "docs", path: "in.txt", newName: "b\u0000.txt" }),
        nul,
      );
    });
    assert.deepEqual(await names(`${h.dir}/docs`), ["in.txt"]);
    await outsideUntouched(h.dir);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: over-long names and paths are refused; 255 bytes is fine", async () => {
  const h = await setup();
  try {
    await withClient(h.port, async (c) => {
      const long = "a".repeat(252) + ".txt"; // 256 bytes
      const w = await c.write("docs", long, new TextEncoder().encode("x"));
      assert.deepEqual(w, {
        ok: false,
        error: "path validation failed: name longer than 255 bytes",
      });
      // 128 two-byte characters: 256 bytes though only 128 characters.
      const wide = "\u00e9".repeat(126) + ".txt";
      assert.match(
        (await c.write("docs", wide, new TextEncoder().encode("x"))).error!,
        /longer than 255 bytes/,
      );
      const deep = Array(20).fill("d".repeat(250)).join("/");
      assert.deepEqual((await c.read("docs", deep)).head, {
        ok: false,
        error: "path validation failed: path longer than 4096 bytes",
      });
      const ok = "b".repeat(251) + ".txt";
      assert.deepEqual(await c.write("docs", ok, new TextEncoder().encode("y")), {
        ok: true,
        size: 1,
      });
      const rn = await c.request({ op: "rename", share: "docs", path: ok, newName: long });
      assert.equal(rn.error, "path validation failed: name longer than 255 bytes");
    });
    await outsideUntouched(h.dir);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: the share root cannot be deleted, renamed or moved (Q-FS-2)", async () => {
  const h = await setup();
  try {
    await Deno.remove(`${h.dir}/docs/in.txt`); // an empty root, which Go would delete
    await withClient(h.port, async (c) => {
      for (const p of [".", "/", "./"]) {
        const d = await c.request({ op: "delete", share: "docs", path: p });
        assert.match(d.error!, /share root itself cannot be changed/);
        const r = await c.request({ op: "rename", share: "docs", path: p, newName: "x" });
        assert.match(r.error!, /share root itself cannot be changed/);
        const m = await c.request({ op: "move", share: "docs", path: p, newPath: "x" });
        assert.match(m.error!, /share root itself cannot be changed/);
        assert.equal((await c.read("docs", p)).head.error, "cannot read a directory");
      }
    });
    assert.ok((await Deno.stat(`${h.dir}/docs`)).isDirectory);
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: in-flight upload files are neither listed nor addressable", async () => {
  const h = await setup();
  try {
    await Deno.writeTextFile(`${h.dir}/docs/.tela-upload-0011223344556677`, "partial");
    await withClient(h.port, async (c) => {
      const l = await c.request({ op: "list", share: "docs", path: "" });
      assert.deepEqual(l.entries?.map((e) => e.name), ["in.txt"]);
      const r = await c.read("docs", ".tela-upload-0011223344556677");
      assert.match(r.head.error!, /in-flight upload files cannot be used/);
      const w = await c.write("docs", ".tela-upload-x", new TextEncoder().encode("x"));
      assert.match(w.error!, /in-flight upload files cannot be used/);
    });
  } finally {
    await h.close();
  }
});

Deno.test("sandbox: a share that is itself reached through a symlink serves its real directory", async () => {
  const h = await startServer([]);
  try {
    await Deno.mkdir(`${h.dir}/real`);
    await Deno.writeTextFile(`${h.dir}/real/f.txt`, "f");
    await Deno.symlink(`${h.dir}/real`, `${h.dir}/alias`);
    const { ShareServer } = await import("./server.ts");
    const { shareFromFields } = await import("./config.ts");
    const s = await ShareServer.create(
      [shareFromFields({ name: "x", path: `${h.dir}/alias` })],
      h.log,
    );
    assert.equal([...s.roots.values()][0], `${h.dir}/real`);
  } finally {
    await h.close();
  }
});

// Keeps the import used when tests are filtered.
void RawClient;
