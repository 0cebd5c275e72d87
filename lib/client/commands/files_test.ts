import assert from "node:assert/strict";
import { formatListing, formatShares, inContext, Progress } from "./files.ts";
import { ShareError } from "../../fileshare/backend.ts";

Deno.test("tela files ls table: tabwriter columns, directories with / and -, modTime verbatim (spec §3.4)", () => {
  assert.equal(
    formatListing([
      { name: "archive", size: 4096, modTime: "2026-03-20T10:30:00Z", isDir: true },
      { name: "report.pdf", size: 1536, modTime: "2026-03-01T08:00:00Z", isDir: false },
      { name: "a", size: 5, modTime: "2026-01-01T00:00:00Z", isDir: false },
    ]),
    [
      "NAME        SIZE    MODIFIED",
      "archive/    -       2026-03-20T10:30:00Z",
      "report.pdf  1.5 KB  2026-03-01T08:00:00Z",
      "a           5 B     2026-01-01T00:00:00Z",
    ].join("\n"),
  );
  assert.equal(formatListing([]), "NAME  SIZE  MODIFIED");
});

Deno.test("tela files info text: access per share (spec §3.4)", () => {
  assert.equal(
    formatShares("barn", [
      { name: "docs", writable: true, allowDelete: true },
      { name: "logs" },
      { name: "up", writable: true },
    ]),
    "Machine: barn\nShares:  3\n  docs  read-write (delete allowed)\n  logs  read-only\n" +
      "  up    read-write",
  );
});

Deno.test("progress line: bytes, percent, rate and ETA; disabled when stderr is not a terminal", () => {
  const MiB = 1024 * 1024;
  assert.equal(
    Progress.line("big.bin", 16 * MiB, 64 * MiB, 2),
    "big.bin [=====>                  ] 25% 16.0 MB/64.0 MB 8.0 MB/s ETA 6s",
  );
  assert.equal(
    Progress.line("big.bin", 64 * MiB, 64 * MiB, 8),
    "big.bin [========================] 100% 64.0 MB/64.0 MB 8.0 MB/s ETA 0s",
  );
  assert.match(Progress.line("x", 0, 10, 0), /ETA --$/);
  assert.match(Progress.line("x", MiB, 200 * MiB, 1), /ETA 3m19s$/);
  const off = new Progress("x", 10, false);
  off.add(5);
  off.finish(); // writes nothing: a test run's stderr is not touched
  assert.equal(off.enabled, false);
});

Deno.test("tela files errors name machine/share[/path]; an unanswered share port says no shares", async () => {
  const fail = (e: Error) => () => Promise.reject(e);
  await assert.rejects(
    inContext("barn", "logs", "", fail(new ShareError("file sharing is read-only"))),
    (e: Error) => e.message === "barn/logs: file sharing is read-only",
  );
  await assert.rejects(
    inContext("barn", "logs", "/old/a.log", fail(new ShareError("file not found"))),
    (e: Error) => e.message === "barn/logs/old/a.log: file not found",
  );
  // The control API's dial error for a machine whose telad.yaml has no shares:.
  await assert.rejects(
    inContext(
      "barn4",
      undefined,
      undefined,
      fail(new ShareError("cannot connect to file share on barn4: timeout", "unavailable")),
    ),
    (e: Error) =>
      e.message ===
        "barn4 has no file shares (add shares: to its telad.yaml; its file-share port did " +
          "not answer: timeout)",
  );
  // Transport failures (no tela connect) pass unchanged.
  const none = new ShareError("no running tela instance found (no control file)", "unavailable");
  await assert.rejects(inContext("barn", "logs", "", fail(none)), (e) => e === none);
  const other = new Error("cannot read x");
  await assert.rejects(inContext("barn", "logs", "", fail(other)), (e) => e === other);
});
