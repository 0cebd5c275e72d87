import assert from "node:assert/strict";
import {
  ByteReader,
  CHUNK_SIZE,
  encodeRequest,
  encodeResponse,
  formatSize,
  frameChunks,
  parseChunkHeader,
  parseRequest,
  parseResponse,
} from "./protocol.ts";
import {
  DEFAULT_BLOCKED_EXTENSIONS,
  extensionAllowed,
  parseSize,
  shareFromFields,
} from "./config.ts";
import { capabilities } from "./config.ts";
import { checkPathText, isWindowsReservedName } from "./sandbox.ts";

const enc = new TextEncoder();

function streamOf(...pieces: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of pieces) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}

Deno.test("requests in Go's key order, path always present, the rest omitted when empty (spec §2.3)", () => {
  assert.equal(
    encodeRequest({ op: "list", share: "docs", path: "", offset: 500, limit: 500 }),
    '{"op":"list","share":"docs","path":"","offset":500,"limit":500}\n',
  );
  assert.equal(encodeRequest({ op: "list-shares" }), '{"op":"list-shares","path":""}\n');
  assert.equal(
    encodeRequest({
      limit: 0,
      newPath: "b",
      checksum: "sha256:ab",
      size: 5,
      path: "a",
      share: "s",
      op: "write",
    }),
    '{"op":"write","share":"s","path":"a","size":5,"checksum":"sha256:ab","newPath":"b"}\n',
  );
});

Deno.test("responses with omitempty: empty listing, zero-byte read header, share flags (spec §2.4)", () => {
  assert.equal(encodeResponse({ ok: true, entries: [], total: 0 }), '{"ok":true}\n');
  assert.equal(
    encodeResponse({ ok: true, size: 0, modTime: "2026-03-20T10:30:00Z", checksum: "sha256:e3" }),
    '{"ok":true,"modTime":"2026-03-20T10:30:00Z","checksum":"sha256:e3"}\n',
  );
  assert.equal(
    encodeResponse({
      ok: true,
      shares: [{ name: "docs", writable: true, allowDelete: true }, { name: "logs" }],
    }),
    '{"ok":true,"shares":[{"name":"docs","writable":true,"allowDelete":true},{"name":"logs"}]}\n',
  );
  assert.equal(
    encodeResponse({
      ok: true,
      total: 1,
      entries: [{ isDir: false, modTime: "2026-03-01T08:00:00Z", size: 20480, name: "q1.pdf" }],
    }),
    '{"ok":true,"entries":[{"name":"q1.pdf","size":20480,"modTime":"2026-03-01T08:00:00Z",' +
      '"isDir":false}],"total":1}\n',
  );
  assert.equal(
    encodeResponse({ ok: false, error: "file not found" }),
    '{"ok":false,"error":"file not found"}\n',
  );
  assert.deepEqual(parseResponse('{"ok":true,"size":5}'), { ok: true, size: 5 });
  assert.throws(() => parseResponse("CHUNK 5"), /invalid response/);
});

Deno.test("request parsing as Go's json.Unmarshal: case-insensitive keys, unknown ignored, wrong types refused (spec §2.5)", () => {
  assert.deepEqual(parseRequest('{"OP":"read","Share":"d","path":"a","extra":1}'), {
    op: "read",
    share: "d",
    path: "a",
  });
  assert.deepEqual(parseRequest('{"op":"list","share":null}\r'), { op: "list" });
  assert.equal(parseRequest(""), null);
  assert.equal(parseRequest("[1]"), null);
  assert.equal(parseRequest('"x"'), null);
  assert.equal(parseRequest('{"op":1}'), null);
  assert.equal(parseRequest('{"op":"write","size":"5"}'), null);
  assert.equal(parseRequest('{"op":"write","size":1.5}'), null);
  assert.deepEqual(parseRequest("{}"), { op: "" });
});

Deno.test("chunk headers: CHUNK <n> with \\r tolerated; other text is the agent's error (spec §2.2)", () => {
  assert.equal(parseChunkHeader("CHUNK 16384"), 16384);
  assert.equal(parseChunkHeader("CHUNK 0\r"), 0);
  assert.equal(parseChunkHeader("CHUNK -3"), -3);
  assert.throws(() => parseChunkHeader("CHUNKS 5"), /expected CHUNK header/);
  assert.throws(() => parseChunkHeader("chunk 5"), /expected CHUNK header/);
  assert.throws(() => parseChunkHeader("CHUNK five"), /invalid chunk size/);
  assert.throws(() => parseChunkHeader("CHUNK 5x"), /invalid chunk size/);
});

Deno.test("framing: 16384-byte chunks, the last one shorter (spec §2.12)", async () => {
  const data = new Uint8Array(2 * CHUNK_SIZE + 3616).map((_, i) => i & 0xff);
  const framed = frameChunks(data);
  const r = new ByteReader(
    new ReadableStream({
      start(c) {
        // Delivered in awkward pieces: headers and data split across reads.
        for (let o = 0; o < framed.length; o += 1000) c.enqueue(framed.slice(o, o + 1000));
        c.close();
      },
    }),
  );
  const sizes: number[] = [];
  const got: number[] = [];
  while (true) {
    const line = await r.readLine();
    if (line === null) break;
    const n = parseChunkHeader(line);
    sizes.push(n);
    got.push(...await r.readBytes(n));
  }
  assert.deepEqual(sizes, [16384, 16384, 3616]);
  assert.deepEqual(new Uint8Array(got), data);
  assert.equal(frameChunks(new Uint8Array(0)).length, 0);
});

Deno.test("ByteReader: lines across pieces, \\r\\n, EOF cut, exact counts, limits", async () => {
  const r = new ByteReader(streamOf('{"op":', '"list"}\r\n{"op"', ':"x"}\nabc', "def"));
  assert.equal(await r.readLine(), '{"op":"list"}');
  assert.equal(await r.readLine(), '{"op":"x"}');
  assert.deepEqual(new TextDecoder().decode(await r.readBytes(5)), "abcde");
  await assert.rejects(r.readBytes(2), /incomplete chunk/);
  const cut = new ByteReader(streamOf("no newline"));
  await assert.rejects(cut.readLine(), /unexpected end of stream/);
  assert.equal(await new ByteReader(streamOf()).readLine(), null);
  await assert.rejects(new ByteReader(streamOf("x".repeat(100))).readLine(10), /line too long/); // The newline arriving in the same piece as the excess bytes does not excuse them.
  await assert.rejects(
    new ByteReader(streamOf("x".repeat(100) + "\n")).readLine(10),
    /line too long/,
  );
  // Many small pieces: each is scanned once and taken with one splice (was quadratic).
  const pieces = Array.from({ length: 20_000 }, () => "ab");
  const many = new ByteReader(streamOf(...pieces, "\nrest\n"));
  assert.equal(await many.readLine(), "ab".repeat(20_000));
  assert.equal(await many.readLine(), "rest");
});

Deno.test("sizes: KB/MB/GB binary, whole numbers only, no B suffix (spec §2.9)", () => {
  assert.equal(parseSize("50MB"), 52428800);
  assert.equal(parseSize(" 2gb "), 2 * 2 ** 30);
  assert.equal(parseSize("10kb"), 10240);
  assert.equal(parseSize("123"), 123);
  assert.equal(parseSize(4096), 4096);
  assert.throws(() => parseSize("1.5MB"), /invalid size: "1.5"/);
  assert.throws(() => parseSize("10B"), /invalid size: "10B"/);
  assert.throws(() => parseSize("-1"), /invalid size/);
  assert.equal(formatSize(1536), "1.5 KB");
  assert.equal(formatSize(1.5 * 2 ** 20), "1.5 MB");
  assert.equal(formatSize(3 * 2 ** 30), "3.0 GB");
  assert.equal(formatSize(999), "999 B");
});

Deno.test("extension rule: last dot, lowercase, block list before allow list, default list (spec §2.9)", () => {
  const def = shareFromFields({ name: "d", path: "/srv/d" });
  assert.deepEqual(def.blockedExtensions, [...DEFAULT_BLOCKED_EXTENSIONS]);
  for (const bad of ["x.exe", "X.EXE", "a/b/run.Sh", "s.PS1", "a.bat", "a.cmd"]) {
    assert.equal(extensionAllowed(def, bad), false, bad);
  }
  for (const good of ["a.txt", "noext", ".bashrc", "archive.tar.gz", "x.exe.txt"]) {
    assert.equal(extensionAllowed(def, good), true, good);
  }
  const allow = shareFromFields({
    name: "d",
    path: "/srv/d",
    allowedExtensions: ["zip", ".TAR.GZ", ".yaml"],
  });
  assert.deepEqual(allow.blockedExtensions, []); // explicit allow-list: no default block list
  assert.equal(extensionAllowed(allow, "a.zip"), true);
  assert.equal(extensionAllowed(allow, "a.YAML"), true);
  assert.equal(extensionAllowed(allow, "a.tar.gz"), false); // extension is ".gz"
  assert.equal(extensionAllowed(allow, "noext"), false);
  const both = shareFromFields({
    name: "d",
    path: "/srv/d",
    allowedExtensions: [".txt", ".sh"],
    blockedExtensions: [".sh"],
  });
  assert.equal(extensionAllowed(both, "a.sh"), false);
  assert.equal(extensionAllowed(both, "a.txt"), true);
  // Q-FS-3: an explicit empty block list keeps the default.
  const empty = shareFromFields({ name: "d", path: "/srv/d", blockedExtensions: [] });
  assert.equal(extensionAllowed(empty, "a.exe"), false);
});

Deno.test("capabilities: shares with their limits, then management (spec §2.10)", () => {
  assert.deepEqual(capabilities([]), { management: true });
  const s = shareFromFields({
    name: "docs",
    path: "/srv/docs",
    writable: true,
    allowedExtensions: [".txt"],
  });
  assert.equal(
    JSON.stringify(capabilities([s])),
    '{"shares":[{"name":"docs","writable":true,"allowDelete":false,"maxFileSize":52428800,' +
      '"allowedExtensions":[".txt"]}],"management":true}',
  );
});

Deno.test("extensions: trailing dots and spaces do not hide a blocked extension (as Windows stores the name)", () => {
  const def = shareFromFields({ name: "s", path: "/srv/s" });
  for (const bad of ["a.exe.", "a.exe ", "a.exe. . ", "d/run.BAT...", "x.ps1 "]) {
    assert.equal(extensionAllowed(def, bad), false, bad);
  }
  assert.equal(extensionAllowed(def, "notes.txt."), true);
  const allow = shareFromFields({ name: "s", path: "/srv/s", allowedExtensions: [".txt"] });
  assert.equal(extensionAllowed(allow, "a."), false); // no extension with an allow-list
  assert.equal(extensionAllowed(allow, "a.txt "), true);
});

Deno.test("Windows device names: refused on Windows agents, with any extension and case", () => {
  for (const n of ["CON", "nul", "Nul.txt", "aux.tar.gz", "COM1", "lpt9.log", "con .txt", "prn."]) {
    assert.equal(isWindowsReservedName(n), true, n);
    assert.throws(
      () => checkPathText(`dir/${n}`, "windows"),
      /path validation failed: .* is a reserved device name on Windows/,
    );
    checkPathText(`dir/${n}`, "linux"); // an ordinary name elsewhere
  }
  for (const n of ["console", "COM0", "lpt", "nullable.txt", "a.con", "com10"]) {
    assert.equal(isWindowsReservedName(n), false, n);
    checkPathText(`dir/${n}`, "windows");
  }
});
