/**
 * Real WebDAV clients against `tela mount` (issue 12, item 5; real-peers.md §4):
 *
 * 1. Debian's `litmus` (suites basic, copymove, props, locks, http) against the WebDAV server
 *    over a directory backend: the server alone, fast.
 * 2. Through a real tunnel: `telahubd`, `telad` with shares, `tela connect` and `tela mount` as
 *    real processes; litmus again, `rclone` (webdav remote) copying a 64 MiB tree both ways
 *    byte-exact, `cadaver` scripted, and a davfs2 mount made by `tela mount -mount` where the
 *    kernel's FUSE and root are available (skipped with the reason otherwise).
 *
 * litmus, rclone and cadaver are required in CI (CI=true): missing, the test fails; locally it is
 * ignored. apt: litmus rclone cadaver davfs2.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  freeTcpPort,
  IN_CI,
  type Proc,
  spawnDeno,
  startClient,
  startHub,
  tunnelUps,
} from "../e2e/harness.ts";
import { serveWebDav } from "../../lib/fileshare/webdav/server.ts";
import { DirBackend } from "../fileshare/_dir_backend.ts";

const TOOLS = ["litmus", "rclone", "cadaver"];
const SUITES = ["basic", "copymove", "props", "locks", "http"];
const MiB = 1024 * 1024;

function which(cmd: string): boolean {
  for (const d of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      if (Deno.statSync(join(d, cmd)).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

const missingTools = TOOLS.filter((t) => !which(t));
if (missingTools.length && IN_CI) {
  throw new Error(
    `WebDAV interop tests cannot run in CI: missing ${missingTools.join(", ")} ` +
      `(apt-get install litmus rclone cadaver davfs2)`,
  );
}

/** Why a davfs2 mount cannot be tried here, or null when it can. */
function davfsUnavailable(): string | null {
  if (Deno.build.os !== "linux") return "not Linux";
  if (Deno.uid() !== 0) return "not root (mount -t davfs needs root)";
  if (!which("mount.davfs")) return "mount.davfs missing (apt-get install davfs2)";
  try {
    Deno.openSync("/dev/fuse", { read: true, write: true }).close();
  } catch (e) {
    return `/dev/fuse is not usable (${(e as Error).message}): no FUSE in this kernel/container`;
  }
  return null;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  o: { cwd?: string; input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Run> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: o.cwd,
    env: o.env,
    stdin: o.input !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(o.timeoutMs ?? 300_000),
  }).spawn();
  if (o.input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(o.input));
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** One litmus suite's result. */
interface SuiteResult {
  suite: string;
  run: number;
  passed: number;
  failures: string[];
  warnings: string[];
}

/** Runs every litmus suite against `url` (its own working directory for debug.log). */
async function litmus(url: string, dir: string): Promise<SuiteResult[]> {
  const results: SuiteResult[] = [];
  for (const suite of SUITES) {
    const r = await run("litmus", ["-k", url], {
      cwd: dir,
      env: { TESTS: suite, HOME: dir },
      timeoutMs: 300_000,
    });
    const text = r.stdout + r.stderr;
    const m = text.match(/summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/);
    assert.ok(m, `litmus ${suite}: no summary line\n${text}`);
    results.push({
      suite,
      run: Number(m[2]),
      passed: Number(m[3]),
      failures: text.split("\n").filter((l) => /\bFAIL\b|OOPS/.test(l)),
      warnings: text.split("\n").filter((l) => /WARNING/.test(l)),
    });
  }
  return results;
}

function report(label: string, results: SuiteResult[]): string {
  return results.map((r) =>
    `${label} litmus ${r.suite}: ${r.passed}/${r.run}` +
    (r.failures.length ? `\n  ${r.failures.join("\n  ")}` : "") +
    (r.warnings.length ? `\n  ${r.warnings.join("\n  ")}` : "")
  ).join("\n");
}

/** Every suite passes completely (litmus's expected test counts: 16, 13, 30, 41, 4). */
function assertAllPass(label: string, results: SuiteResult[]) {
  const text = report(label, results);
  console.log(text);
  const want: Record<string, number> = { basic: 16, copymove: 13, props: 30, locks: 41, http: 4 };
  for (const r of results) {
    assert.equal(r.run, want[r.suite], text);
    assert.equal(r.passed, r.run, text);
  }
}

/** Removes a temporary tree; a late write of a request the client gave up on may race it once. */
async function removeDir(dir: string) {
  for (let i = 0;; i++) {
    try {
      return await Deno.remove(dir, { recursive: true });
    } catch (e) {
      if (i >= 10 || e instanceof Deno.errors.NotFound) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** sha256 of every file under `root`, by relative path. */
async function treeHashes(root: string, skip = /^$/): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip.test(e.name)) continue;
      if (e.isDirectory) await walk(join(dir, e.name), r);
      else if (e.isFile) out.set(r, sha256(await Deno.readFile(join(dir, e.name))));
    }
  };
  await walk(root, "");
  return out;
}

/** A 64 MiB tree of random files in subdirectories (plus small and UTF-8-named files). */
async function makeTree(root: string): Promise<number> {
  const files: [string, number][] = [
    ["big/one.bin", 24 * MiB],
    ["big/deeper/two.bin", 16 * MiB],
    ["mid/three.bin", 12 * MiB],
    ["mid/four.dat", 8 * MiB],
    ["five.bin", 3 * MiB],
    ["small/six.bin", MiB - 4096],
    ["small/a.txt", 1000],
    ["small/b.txt", 3096],
    ["ünï cödé/naïve résumé.txt", 17],
  ];
  let total = 0;
  for (const [rel, size] of files) {
    const p = join(root, rel);
    await Deno.mkdir(join(p, ".."), { recursive: true });
    const buf = new Uint8Array(size);
    for (let o = 0; o < size; o += 65536) crypto.getRandomValues(buf.subarray(o, o + 65536));
    await Deno.writeFile(p, buf);
    total += size;
  }
  return total;
}

Deno.test({
  name: "litmus against the WebDAV server over a directory backend: every suite passes",
  ignore: !which("litmus"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mount-litmus-" });
    await Deno.mkdir(`${dir}/docs`);
    const backend = new DirBackend({
      barn: [{ name: "docs", root: `${dir}/docs`, writable: true, allowDelete: true }],
    });
    const ac = new AbortController();
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const server = serveWebDav({ backend, port: 0, signal: ac.signal, options: { log: quiet } });
    try {
      const results = await litmus(`http://127.0.0.1:${server.addr.port}/barn/docs/`, dir);
      assertAllPass("directory backend:", results);
    } finally {
      ac.abort();
      await server.finished;
      await removeDir(dir);
    }
  },
});

Deno.test({
  name:
    "tela mount through a real tunnel: litmus, rclone 64 MiB both ways, cadaver, davfs2 (telahubd + telad + tela connect + tela mount)",
  ignore: missingTools.length > 0,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "mount-e2e-" });
    const [hubDir, agentHome, clientHome, work] = ["hub", "agent", "client", "work"].map((d) =>
      `${root}/${d}`
    );
    for (const d of [hubDir, agentHome, clientHome, work]) await Deno.mkdir(d);
    const docs = `${agentHome}/docs`;
    const ro = `${agentHome}/ro`;
    await Deno.mkdir(ro);
    await Deno.writeTextFile(`${ro}/readme.txt`, "read only\n");
    const owner = Array.from(crypto.getRandomValues(new Uint8Array(32)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const procs: Proc[] = [];
    const dummy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const hub = await startHub(hubDir, owner);
      procs.push(hub.proc);
      await Deno.writeTextFile(
        `${agentHome}/telad.yaml`,
        `hub: ${hub.url}
token: ${owner}
machines:
  - name: barn
    ports: [${(dummy.addr as Deno.NetAddr).port}]
    shares:
      - name: docs
        path: ${docs}
        writable: true
        allowDelete: true
        maxFileSize: 100MB
      - name: ro
        path: ${ro}
`,
      );
      const agent = spawnDeno("telad", "cmd/telad.ts", ["-config", `${agentHome}/telad.yaml`], {
        HOME: agentHome,
      });
      procs.push(agent);
      const client = startClient(clientHome, [
        "-hub",
        hub.url,
        "-machine",
        "barn",
        "-token",
        owner,
        "-ports",
        `${freeTcpPort()}:${(dummy.addr as Deno.NetAddr).port}`,
      ]);
      procs.push(client);
      await tunnelUps(client, 1);
      const mount = spawnDeno("tela mount", "cmd/tela.ts", ["mount", "-port", "0"], {
        HOME: clientHome,
      });
      procs.push(mount);
      const port = Number(
        (await mount.waitFor(/WebDAV server listening on 127\.0\.0\.1:(\d+)/, 90_000))[1],
      );
      const base = `http://127.0.0.1:${port}`;

      await t.step(
        "the tree: machines at the root, shares below, a read-only share refuses PUT",
        async () => {
          const propfind = async (path: string) => {
            const r = await fetch(`${base}${path}`, {
              method: "PROPFIND",
              headers: { depth: "1" },
            });
            assert.equal(r.status, 207, path);
            return await r.text();
          };
          let rootList = "";
          for (let i = 0; i < 30 && !rootList.includes("<D:href>/barn/</D:href>"); i++) {
            rootList = await propfind("/");
            if (!rootList.includes("/barn/")) await new Promise((r) => setTimeout(r, 1000));
          }
          assert.match(rootList, /<D:href>\/barn\/<\/D:href>/);
          const shares = await propfind("/barn/");
          assert.match(shares, /<D:href>\/barn\/docs\/<\/D:href>/);
          assert.match(shares, /<D:href>\/barn\/ro\/<\/D:href>/);
          const get = await fetch(`${base}/barn/ro/readme.txt`);
          assert.equal(await get.text(), "read only\n");
          const put = await fetch(`${base}/barn/ro/new.txt`, { method: "PUT", body: "x" });
          assert.equal(put.status, 403);
          assert.equal((await put.text()).trim(), "file sharing is read-only");
          const inf = await fetch(`${base}/barn/`, {
            method: "PROPFIND",
            headers: { depth: "infinity" },
          });
          assert.equal(inf.status, 403);
          assert.match(await inf.text(), /propfind-finite-depth/);
        },
      );

      await t.step("litmus: basic, copymove, props, locks, http through the tunnel", async () => {
        const results = await litmus(`${base}/barn/docs/`, work);
        assertAllPass("through the tunnel:", results);
      });

      await t.step("rclone copies a 64 MiB tree up and back byte-exact", async () => {
        const up = `${work}/rclone-up`;
        const down = `${work}/rclone-down`;
        const total = await makeTree(up);
        assert.equal(total, 64 * MiB + 1000 + 3096 + 17 - 4096);
        const remote = [
          ":webdav:rc",
          "--webdav-url",
          `${base}/barn/docs/`,
          "--webdav-vendor",
          "other",
        ];
        const env = { HOME: work, RCLONE_CONFIG: `${work}/rclone.conf` };
        const upRun = await run("rclone", ["copy", up, ...remote, "--stats-log-level", "NOTICE"], {
          env,
          timeoutMs: 600_000,
        });
        assert.equal(upRun.code, 0, upRun.stderr);
        const want = await treeHashes(up);
        // On the agent's disk, every file arrived whole.
        assert.deepEqual(await treeHashes(`${docs}/rc`), want);
        const downRun = await run("rclone", [
          "copy",
          remote[0],
          down,
          ...remote.slice(1),
        ], { env, timeoutMs: 600_000 });
        assert.equal(downRun.code, 0, downRun.stderr);
        assert.deepEqual(await treeHashes(down), want);
        const check = await run("rclone", ["check", up, ...remote], { env, timeoutMs: 600_000 });
        assert.equal(check.code, 0, check.stderr);
        console.log(`rclone: ${want.size} files, ${total} bytes up and down, sha256 equal`);
      });

      await t.step("cadaver: mkcol, put, ls, get, move, delete (scripted)", async () => {
        const up = `${work}/cad-up.txt`;
        const content = "cadaver through the tunnel\n".repeat(1000);
        await Deno.writeTextFile(up, content);
        const script = [
          "mkcol cdir",
          `put ${up} cdir/up.txt`,
          "ls cdir",
          `get cdir/up.txt ${work}/cad-down.txt`,
          "move cdir/up.txt cdir/moved.txt",
          "ls cdir",
          "propget cdir/moved.txt",
          "delete cdir/moved.txt",
          "rmcol cdir",
          "quit",
        ].join("\n") + "\n";
        const r = await run("cadaver", [`${base}/barn/docs/`], {
          input: script,
          cwd: work,
          env: { HOME: work },
          timeoutMs: 120_000,
        });
        const out = r.stdout + r.stderr;
        assert.equal(r.code, 0, out);
        assert.equal(await Deno.readTextFile(`${work}/cad-down.txt`), content);
        assert.match(out, /up\.txt\s+27000/, out);
        assert.match(out, /moved\.txt\s+27000/, out);
        assert.doesNotMatch(out, /failed|error/i, out);
        await assert.rejects(Deno.stat(`${docs}/cdir`), Deno.errors.NotFound);
      });

      await t.step("davfs2: tela mount -mount <dir> writes and reads files", async () => {
        const why = davfsUnavailable();
        // In CI only a kernel without FUSE may skip this step; anything else is a failure.
        if (why && IN_CI && !why.startsWith("/dev/fuse")) {
          throw new Error(`davfs2 step cannot run in CI: ${why}`);
        }
        if (why) {
          console.log(`davfs2 step skipped: ${why}`);
          return;
        }
        const mnt = `${work}/mnt`;
        const m2 = spawnDeno("tela mount -mount", "cmd/tela.ts", [
          "mount",
          "-port",
          "0",
          "-mount",
          mnt,
        ], {
          HOME: clientHome,
        });
        procs.push(m2);
        await m2.waitFor(/mounted http:\/\/127\.0\.0\.1:\d+\/ on /, 90_000);
        const mounts = await Deno.readTextFile("/proc/mounts");
        assert.ok(mounts.includes(` ${mnt} `), mounts);
        const data = crypto.getRandomValues(new Uint8Array(65536));
        await Deno.writeFile(`${mnt}/barn/docs/davfs.bin`, data);
        assert.equal(sha256(await Deno.readFile(`${mnt}/barn/docs/davfs.bin`)), sha256(data));
        assert.equal(await Deno.readTextFile(`${mnt}/barn/ro/readme.txt`), "read only\n");
        // Stop tela mount: it unmounts (davfs2 uploads what it cached) and exits.
        const st = await m2.stop();
        assert.equal(st.code, 0, m2.output);
        assert.ok(!(await Deno.readTextFile("/proc/mounts")).includes(` ${mnt} `));
        assert.equal(sha256(await Deno.readFile(`${docs}/davfs.bin`)), sha256(data));
        console.log(`davfs2: mounted on ${mnt}, 64 KiB written and read back, unmounted`);
      });

      await t.step("tela mount stops on SIGTERM with exit 0", async () => {
        const st = await mount.stop();
        assert.equal(st.code, 0, mount.output);
        assert.match(mount.output, /shutting down\.\.\./);
      });

      await t.step(
        "profile mount.auto: tela connect -profile mounts on connect, unmounts at exit",
        async () => {
          const why = davfsUnavailable();
          const home = `${root}/profile-client`;
          const mnt = `${work}/auto`;
          await Deno.mkdir(`${home}/.tela/profiles`, { recursive: true });
          await Deno.mkdir(mnt);
          if (why) await Deno.writeTextFile(`${mnt}/occupied`, "x"); // the skip path instead
          const mountPortNo = freeTcpPort();
          await Deno.writeTextFile(
            `${home}/.tela/profiles/auto.yaml`,
            `connections:
  - hub: ${hub.url}
    machine: barn
    token: ${owner}
    services:
      - remote: ${(dummy.addr as Deno.NetAddr).port}
        local: ${freeTcpPort()}
mount:
  mount: ${mnt}
  port: ${mountPortNo}
  auto: true
`,
          );
          const pc = startClient(home, ["-profile", "auto"]);
          procs.push(pc);
          if (why) {
            await pc.waitFor(
              /\[mount\] WARN: skipping auto-mount ".*": .* is not empty \(1 items\)/,
              90_000,
            );
            console.log(`profile mount.auto: skip path checked (davfs2 unavailable: ${why})`);
            await pc.stop();
            return;
          }
          await pc.waitFor(
            new RegExp(`auto-starting mount: ${mnt} \\(port ${mountPortNo}\\)`),
            90_000,
          );
          await pc.waitFor(/\[mount\] mounted http:\/\/127\.0\.0\.1:\d+\/ on /, 90_000);
          assert.ok((await Deno.readTextFile("/proc/mounts")).includes(` ${mnt} `));
          assert.equal(await Deno.readTextFile(`${mnt}/barn/ro/readme.txt`), "read only\n");
          const st = await pc.stop();
          assert.equal(st.code, 0, pc.output);
          assert.ok(!(await Deno.readTextFile("/proc/mounts")).includes(` ${mnt} `), pc.output);
          console.log(
            `profile mount.auto: mounted on ${mnt} at connect, read a file, unmounted at exit`,
          );
        },
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
      dummy.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
