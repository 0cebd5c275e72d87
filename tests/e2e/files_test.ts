/**
 * File sharing end to end with real processes (issue 12): `telahubd`, `telad -config` with
 * `shares:`, `tela connect`, then every `tela files` sub-command as its own process through
 * the connect process's control API. Byte-exact 64 MiB get and put (SHA-256), an interrupted
 * put and an interrupted get leave no partial file in place, the agent's rules reach the
 * user as `Error: <agent error>` (exit 1). Prints the get/put rates next to `curl` fetching
 * the same file from an HTTP server behind the agent through the same tunnel (figures only,
 * no timed assertion; bench/files.ts does the same on demand).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  DENO_DIR,
  freeTcpPort,
  IN_CI,
  type Proc,
  REPO_ROOT,
  runTela,
  spawnDeno,
  startClient,
  startHub,
  threeHomes,
  tunnelUps,
} from "./harness.ts";

const owner = "f11e".repeat(16);
const MiB = 1024 * 1024;

async function shaFile(path: string): Promise<string> {
  const h = createHash("sha256");
  const f = await Deno.open(path);
  const buf = new Uint8Array(1 << 20);
  while (true) {
    const n = await f.read(buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
  }
  f.close();
  return h.digest("hex");
}

/** Writes `size` pseudo-random bytes to `path`. */
async function randomFile(path: string, size: number): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = new Uint8Array(MiB);
  for (let done = 0; done < size;) {
    for (let o = 0; o < block.length; o += 65536) {
      crypto.getRandomValues(block.subarray(o, o + 65536));
    }
    const n = Math.min(block.length, size - done);
    let off = 0;
    while (off < n) off += await f.write(block.subarray(off, n));
    done += n;
  }
  f.close();
}

function hasCurl(): boolean {
  try {
    new Deno.Command("curl", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync();
    return true;
  } catch {
    return false;
  }
}

/** `tela files <args>` as its own process in the client's HOME. */
async function files(home: string, args: string[]) {
  const t0 = performance.now();
  const r = await runTela(home, ["files", ...args]);
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

const rate = (bytes: number, s: number) => `${(bytes / MiB / s).toFixed(1)} MiB/s`;

Deno.test({
  name: "tela files through a real hub, telad with shares and tela connect (every sub-command)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if (!hasCurl() && IN_CI) throw new Error("curl is missing (the rate comparison needs it)");
    const { root, hubDir, agentHome, clientHome } = await threeHomes("files-e2e-");
    const shareDir = `${root}/share`, roDir = `${root}/ro`, zipDir = `${root}/zips`;
    const www = `${root}/www`;
    await Deno.mkdir(www);
    await Deno.mkdir(roDir);
    await Deno.writeTextFile(`${roDir}/readme.txt`, "read me\n");
    const big = `${www}/big.bin`;
    await randomFile(big, 64 * MiB);
    const bigSha = await shaFile(big);
    // An HTTP server behind the agent serving the same file, for curl through the tunnel.
    const web = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
      const f = await Deno.open(big);
      return new Response(f.readable, {
        headers: { "content-length": String(64 * MiB) },
      });
    });
    const procs: Proc[] = [];
    try {
      const hub = await startHub(hubDir, owner);
      procs.push(hub.proc);
      await Deno.writeTextFile(
        `${agentHome}/telad.yaml`,
        `hub: ${hub.url}
token: ${owner}
machines:
  - name: barn
    ports: [${web.addr.port}]
    shares:
      - name: files
        path: ${shareDir}
        writable: true
        allowDelete: true
        maxFileSize: 100MB
      - name: ro
        path: ${roDir}
      - name: zips
        path: ${zipDir}
        writable: true
        allowedExtensions: [.zip]
`,
      );
      const agent = spawnDeno("telad", "cmd/telad.ts", ["-config", `${agentHome}/telad.yaml`], {
        HOME: agentHome,
      });
      procs.push(agent);
      await agent.waitFor(/registered with hub/, 90_000);
      // The share directory is created at start (spec §2.9).
      assert.ok((await Deno.stat(shareDir)).isDirectory);
      const webLocal = freeTcpPort();
      const client = startClient(clientHome, [
        "-hub",
        hub.url,
        "-machine",
        "barn",
        "-token",
        owner,
        "-ports",
        `${webLocal}:${web.addr.port}`,
      ]);
      procs.push(client);
      await client.waitFor(/\[control\] API listening on 127\.0\.0\.1:\d+/);
      await tunnelUps(client, 1);
      const controlFile = `${clientHome}/.tela/run/control.json`;
      await t.step("control.json: 0600 in a 0700 folder, pid/port/token", async () => {
        const st = await Deno.stat(controlFile);
        assert.equal(st.mode! & 0o777, 0o600);
        assert.equal((await Deno.stat(`${clientHome}/.tela/run`)).mode! & 0o777, 0o700);
        const info = JSON.parse(await Deno.readTextFile(controlFile));
        assert.deepEqual(Object.keys(info), ["pid", "port", "token"]);
        assert.match(info.token, /^[0-9a-f]{64}$/);
        const noAuth = await fetch(`http://127.0.0.1:${info.port}/tunnels`);
        assert.equal(noAuth.status, 401);
        assert.equal(await noAuth.text(), "authorization required\n");
        const bad = await fetch(`http://127.0.0.1:${info.port}/tunnels`, {
          headers: { Authorization: `Bearer ${"0".repeat(64)}` },
        });
        assert.equal(bad.status, 401);
        assert.equal(await bad.text(), "invalid token\n");
        const ok = await fetch(`http://127.0.0.1:${info.port}/tunnels`, {
          headers: { Authorization: `Bearer ${info.token}` },
        });
        assert.deepEqual(await ok.json(), [{ machine: "barn" }]);
      });

      await t.step(
        "the hub lists the shares the agent advertised (/api/status capabilities)",
        async () => {
          const res = await fetch(`http://127.0.0.1:${hub.port}/api/status`, {
            headers: { Authorization: `Bearer ${owner}` },
          });
          const status = await res.json();
          const barn = status.machines.find((m: { id: string }) => m.id === "barn");
          assert.deepEqual(barn.capabilities, {
            shares: [
              {
                name: "files",
                writable: true,
                allowDelete: true,
                maxFileSize: 100 * MiB,
                blockedExtensions: [".exe", ".bat", ".cmd", ".ps1", ".sh"],
              },
              {
                name: "ro",
                writable: false,
                allowDelete: false,
                maxFileSize: 50 * MiB,
                blockedExtensions: [".exe", ".bat", ".cmd", ".ps1", ".sh"],
              },
              {
                name: "zips",
                writable: true,
                allowDelete: false,
                maxFileSize: 50 * MiB,
                allowedExtensions: [".zip"],
              },
            ],
            management: true,
          });
        },
      );

      await t.step("info: the machine's shares and what each allows (text and -json)", async () => {
        const r = await files(clientHome, ["info", "-machine", "barn"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(
          r.stdout,
          "Machine: barn\nShares:  3\n  files  read-write (delete allowed)\n  ro     read-only\n" +
            "  zips   read-write\n",
        );
        const j = await files(clientHome, ["info", "-machine", "barn", "-json"]);
        assert.deepEqual(JSON.parse(j.stdout), {
          machine: "barn",
          shares: [
            { name: "files", writable: true, allowDelete: true },
            { name: "ro", writable: false, allowDelete: false },
            { name: "zips", writable: true, allowDelete: false },
          ],
        });
      });

      const figures: string[] = [];
      await t.step(
        "put and get 64 MiB byte-exact; rates next to curl through the same tunnel",
        async () => {
          const put = await files(clientHome, [
            "put",
            "-machine",
            "barn",
            "-share",
            "files",
            big,
            "in/big.bin",
          ]);
          assert.equal(put.code, 0, put.stderr);
          assert.equal(put.stdout, "Uploaded in/big.bin (64.0 MB)\n");
          // No progress bar: stderr is not a terminal here.
          assert.ok(!/ETA|\r/.test(put.stderr), put.stderr);
          assert.equal(await shaFile(`${shareDir}/in/big.bin`), bigSha);
          const get = await files(clientHome, [
            "get",
            "-machine",
            "barn",
            "-share",
            "files",
            "in/big.bin",
            "-o",
            `${root}/got.bin`,
          ]);
          assert.equal(get.code, 0, get.stderr);
          assert.equal(get.stdout, `${root}/got.bin (64.0 MB)\n`);
          assert.ok(!/ETA|\r/.test(get.stderr), get.stderr);
          assert.equal(await shaFile(`${root}/got.bin`), bigSha);
          let curlLine = "curl: not installed";
          if (hasCurl()) {
            const t0 = performance.now();
            const c = await new Deno.Command("curl", {
              args: ["-sS", "-o", `${root}/curl.bin`, `http://127.0.0.1:${webLocal}/big.bin`],
            }).output();
            const s = (performance.now() - t0) / 1000;
            assert.equal(c.code, 0, new TextDecoder().decode(c.stderr));
            assert.equal(await shaFile(`${root}/curl.bin`), bigSha);
            curlLine = `curl download ${rate(64 * MiB, s)} (${s.toFixed(2)} s)`;
          }
          figures.push(
            `tela files put ${rate(64 * MiB, put.seconds)} (${put.seconds.toFixed(2)} s, ` +
              `process start and checksum included)`,
            `tela files get ${rate(64 * MiB, get.seconds)} (${get.seconds.toFixed(2)} s, ` +
              `process start included)`,
            curlLine,
          );
          console.log(
            `\n64 MiB through one tunnel (loopback hub, WebSocket relay):\n  ${
              figures.join("\n  ")
            }`,
          );
        },
      );

      await t.step("ls, mkdir, rename, mv, rm as separate processes", async () => {
        const mk = await files(clientHome, [
          "mkdir",
          "-machine",
          "barn",
          "-share",
          "files",
          "archive",
        ]);
        assert.equal(mk.stdout, "Created archive\n");
        await Deno.writeTextFile(`${root}/note.txt`, "hello\n");
        const p = await files(clientHome, [
          "put",
          "-machine",
          "barn",
          "-share",
          "files",
          `${root}/note.txt`,
        ]);
        assert.equal(p.stdout, "Uploaded note.txt (6 B)\n", p.stderr);
        const rn = await files(clientHome, [
          "rename",
          "-machine",
          "barn",
          "-share",
          "files",
          "note.txt",
          "jan.txt",
        ]);
        assert.equal(rn.stdout, "Renamed note.txt -> jan.txt\n");
        const mv = await files(clientHome, [
          "mv",
          "-machine",
          "barn",
          "-share",
          "files",
          "jan.txt",
          "archive/jan.txt",
        ]);
        assert.equal(mv.stdout, "Moved jan.txt -> archive/jan.txt\n");
        const ls = await files(clientHome, ["ls", "-machine", "barn", "-share", "files"]);
        assert.equal(ls.code, 0, ls.stderr);
        const lines = ls.stdout.trimEnd().split("\n");
        assert.match(lines[0], /^NAME\s+SIZE\s+MODIFIED$/);
        assert.match(lines[1], /^archive\/\s+-\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.match(lines[2], /^in\/\s+-\s+/);
        const lj = await files(clientHome, [
          "ls",
          "-machine",
          "barn",
          "-share",
          "files",
          "archive",
          "-json",
        ]);
        const entries = JSON.parse(lj.stdout);
        assert.deepEqual(entries.map((e: { name: string; size: number }) => [e.name, e.size]), [
          ["jan.txt", 6],
        ]);
        const g = await files(clientHome, [
          "get",
          "-machine",
          "barn",
          "-share",
          "files",
          "archive/jan.txt",
          "-o",
          `${root}/jan.txt`,
        ]);
        assert.equal(g.code, 0, g.stderr);
        assert.equal(await Deno.readTextFile(`${root}/jan.txt`), "hello\n");
        const rm = await files(clientHome, [
          "rm",
          "-machine",
          "barn",
          "-share",
          "files",
          "archive/jan.txt",
        ]);
        assert.equal(rm.stdout, "Deleted archive/jan.txt\n");
        assert.deepEqual(await names(`${shareDir}/archive`), []);
      });

      await t.step("the agent's rules reach the user: Error: <agent error>, exit 1", async () => {
        // Each names its context: machine/share[/path] (the walkthrough's ask).
        const cases: [string[], string][] = [
          [
            ["put", "-machine", "barn", "-share", "ro", `${root}/jan.txt`],
            "barn/ro/jan.txt: file sharing is read-only",
          ],
          [
            ["rm", "-machine", "barn", "-share", "ro", "readme.txt"],
            "barn/ro/readme.txt: delete not allowed",
          ],
          [
            ["put", "-machine", "barn", "-share", "zips", `${root}/jan.txt`],
            "barn/zips/jan.txt: file extension not allowed",
          ],
          [
            ["get", "-machine", "barn", "-share", "files", "../etc/passwd"],
            "barn/files/../etc/passwd: path traversal not allowed",
          ],
          [
            ["get", "-machine", "barn", "-share", "files", "nope.txt"],
            "barn/files/nope.txt: file not found",
          ],
          [["ls", "-machine", "barn", "-share", "nope"], "barn/nope: unknown share: nope"],
          [
            ["mkdir", "-machine", "barn", "-share", "files", "archive"],
            "barn/files/archive: directory already exists",
          ],
        ];
        for (const [args, err] of cases) {
          const r = await files(clientHome, args);
          assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
          assert.equal(r.stderr, `Error: ${err}\n`, args.join(" "));
          assert.equal(r.stdout, "");
        }
        assert.deepEqual(await names(roDir), ["readme.txt"]);
        assert.deepEqual(await names(zipDir), []);
        const usage = await files(clientHome, ["ls", "-machine", "barn"]);
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /^Error: -share is required/);
        const other = await files(clientHome, ["ls", "-machine", "elsewhere", "-share", "files"]);
        assert.equal(other.code, 1);
        assert.match(other.stderr, /no active tunnel for machine "elsewhere"/);
      });

      await t.step(
        "get: -o - to stdout, replaced <path> on stderr, a missing folder named",
        async () => {
          await Deno.writeTextFile(`${shareDir}/hello.txt`, "hello from barn\n");
          const get = (o: string) =>
            files(clientHome, ["get", "-machine", "barn", "-share", "files", "hello.txt", "-o", o]);
          const toStdout = await get("-");
          assert.equal(toStdout.code, 0, toStdout.stderr);
          assert.equal(toStdout.stdout, "hello from barn\n");
          const dest = `${root}/hello-copy.txt`;
          await Deno.writeTextFile(dest, "older local text\n");
          const over = await get(dest);
          assert.equal(over.code, 0, over.stderr);
          assert.equal(over.stderr, `replaced ${dest}\n`);
          assert.equal(await Deno.readTextFile(dest), "hello from barn\n");
          const fresh = await get(`${root}/hello-new.txt`);
          assert.equal(fresh.stderr, "", "a new file is not 'replaced'");
          const missing = await get(`${root}/no-such-folder/x.txt`);
          assert.equal(missing.code, 1);
          assert.equal(
            missing.stderr,
            `Error: cannot write ${root}/no-such-folder/x.txt: the folder ${root}/no-such-folder ` +
              `does not exist (create it first)\n`,
          );
        },
      );

      await t.step("an interrupted put leaves the old file whole and no partial file", async () => {
        await Deno.writeTextFile(`${shareDir}/keep.bin`, "the old, whole file\n");
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            `${REPO_ROOT}cmd/tela.ts`,
            "files",
            "put",
            "-machine",
            "barn",
            "-share",
            "files",
            big,
            "keep.bin",
          ],
          env: { NO_COLOR: "1", DENO_DIR, HOME: clientHome },
          stdout: "null",
          stderr: "null",
        }).spawn();
        // Wait until the agent's temporary file has data, then kill the uploader.
        const deadline = Date.now() + 60_000;
        let seen = false;
        while (Date.now() < deadline && !seen) {
          for await (const e of Deno.readDir(shareDir)) {
            if (!e.name.startsWith(".tela-upload-")) continue;
            const st = await Deno.stat(`${shareDir}/${e.name}`).catch(() => null);
            if (st && st.size > 0) seen = true;
          }
          if (!seen) await new Promise((r) => setTimeout(r, 20));
        }
        child.kill("SIGKILL");
        await child.status;
        assert.ok(seen, "the upload had started");
        // The agent drops the temporary file once the connection is gone.
        let left: string[] = [];
        for (let i = 0; i < 100; i++) {
          left = (await names(shareDir)).filter((n) => n.startsWith(".tela-upload-"));
          if (left.length === 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepEqual(left, []);
        assert.equal(await Deno.readTextFile(`${shareDir}/keep.bin`), "the old, whole file\n");
      });

      await t.step(
        "an interrupted get (Ctrl-C) leaves the old local file whole and no part file",
        async () => {
          const dest = `${root}/dl`;
          await Deno.mkdir(dest);
          await Deno.writeTextFile(`${dest}/big.bin`, "old local copy\n");
          const child = new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              `${REPO_ROOT}cmd/tela.ts`,
              "files",
              "get",
              "-machine",
              "barn",
              "-share",
              "files",
              "in/big.bin",
              "-o",
              dest,
            ],
            env: { NO_COLOR: "1", DENO_DIR, HOME: clientHome },
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          const deadline = Date.now() + 60_000;
          let seen = false;
          while (Date.now() < deadline && !seen) {
            for await (const e of Deno.readDir(dest)) {
              if (!e.name.includes(".tela-part-")) continue;
              const st = await Deno.stat(`${dest}/${e.name}`).catch(() => null);
              if (st && st.size > 0) seen = true;
            }
            if (!seen) await new Promise((r) => setTimeout(r, 20));
          }
          child.kill("SIGINT");
          const out = await child.output();
          assert.ok(seen, "the download had started");
          assert.equal(out.code, 1, new TextDecoder().decode(out.stderr));
          assert.match(new TextDecoder().decode(out.stderr), /interrupted/);
          assert.deepEqual(await names(dest), ["big.bin"]);
          assert.equal(await Deno.readTextFile(`${dest}/big.bin`), "old local copy\n");
        },
      );

      await t.step("tela connect removes control.json when it stops", async () => {
        await client.stop();
        await assert.rejects(Deno.stat(controlFile), Deno.errors.NotFound);
        const r = await files(clientHome, ["info", "-machine", "barn"]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /no running tela instance found \(no control file\)/);
      });
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await web.shutdown();
      await Deno.remove(root, { recursive: true });
    }
  },
});
