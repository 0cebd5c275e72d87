/**
 * `telad -config` as a real process (issue 13, items 2 and 4): upstreams used by real client
 * programs (`curl`, `nc`, `socat`) with no hub reachable (upstreams do not depend on it), and
 * bad `telad.yaml` files stopping telad with the file, the line and the fix (exit 3), unknown
 * keys and unreachable targets as warnings.
 */
import assert from "node:assert/strict";
import { runProgram } from "../cli/_run.ts";
import { createHash, randomBytes } from "node:crypto";
import { freeTcpPort, IN_CI, type Proc, spawnDeno } from "./harness.ts";
import { run } from "../scenarios/_scene.ts";

/** The programs these tests drive; missing ones fail in CI and skip their step locally. */
const PROGRAMS = ["curl", "nc", "socat"] as const;

function has(program: string): boolean {
  try {
    new Deno.Command(program, { args: ["-h"], stdout: "null", stderr: "null" }).outputSync();
    return true;
  } catch {
    return false;
  }
}

/** Runs `cmd args` with `input` on stdin, killed after `timeoutMs`. */
async function runWith(
  cmd: string,
  args: string[],
  input: Uint8Array = new Uint8Array(),
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).spawn();
  const w = child.stdin.getWriter();
  const [out] = await Promise.all([child.output(), w.write(input).then(() => w.close())]);
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * A TCP server that reads each connection to EOF, then answers `got <n> bytes <sha256>` and
 * closes: only a client whose write shutdown reached it gets an answer.
 */
function eofReplier(): { port: number; close: () => void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const c of l) {
      (async () => {
        const parts: Uint8Array[] = [];
        const buf = new Uint8Array(65536);
        while (true) {
          const n = await c.read(buf);
          if (n === null) break;
          parts.push(buf.slice(0, n));
        }
        const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
        let o = 0;
        for (const p of parts) all.set(p, o), o += p.length;
        const reply = new TextEncoder().encode(`got ${all.length} bytes ${sha(all)}\n`);
        let off = 0;
        while (off < reply.length) off += await c.write(reply.subarray(off));
      })().catch(() => {}).finally(() => {
        try {
          c.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  return { port: l.addr.port, close: () => l.close() };
}

/** Starts `telad -config <dir>/telad.yaml` with `yaml`, HOME `dir`. */
async function telad(dir: string, yaml: string): Promise<Proc> {
  await Deno.writeTextFile(`${dir}/telad.yaml`, yaml);
  return spawnDeno("telad", "cmd/telad.ts", ["-config", `${dir}/telad.yaml`], { HOME: dir });
}

Deno.test({
  name:
    "telad upstreams with real client programs: curl (IPv4 and IPv6), nc -N and socat half-close, dial failure, stop",
  async fn(t) {
    const missing = PROGRAMS.filter((p) => !has(p));
    if (missing.length && IN_CI) throw new Error(`missing programs: ${missing.join(", ")}`);
    const dir = await Deno.makeTempDir({ prefix: "upstream-e2e-" });
    const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
      const body = new Uint8Array(await req.arrayBuffer());
      return new Response(
        `${req.method} ${new URL(req.url).pathname} ${body.length} ${sha(body)}\n`,
      );
    });
    const replier = eofReplier();
    const webPort = freeTcpPort(), halfPort = freeTcpPort(), deadPort = freeTcpPort();
    const closedTarget = freeTcpPort();
    let agent: Proc | undefined;
    try {
      agent = await telad(
        dir,
        `# no hub listens here: upstreams do not need one
hub: ws://127.0.0.1:${freeTcpPort()}
token: unused
machines:
  - name: barn
    ports: [${replier.port}]
    upstreams:
      - port: ${webPort}
        target: localhost:${http.addr.port}
        name: web
      - port: ${halfPort}
        target: 127.0.0.1:${replier.port}
      - port: ${deadPort}
        target: 127.0.0.1:${closedTarget}
        name: dead
`,
      );
      await agent.waitFor(/\[upstream\] 3 listener\(s\) started$/, 60_000);
      assert.ok(
        agent.lines.some((l) =>
          l.endsWith(`[upstream] web: :${webPort} -> localhost:${http.addr.port}`)
        ),
        agent.output,
      );
      assert.ok(
        agent.lines.some((l) =>
          l.endsWith(`[upstream] port ${halfPort}: :${halfPort} -> 127.0.0.1:${replier.port}`)
        ),
        agent.output,
      );

      await t.step("curl GET and POST (3 MiB) through the upstream, IPv4 and IPv6", async () => {
        if (!has("curl")) return;
        for (const host of ["127.0.0.1", "[::1]", "localhost"]) {
          const r = await runWith("curl", ["-sS", "-m", "30", `http://${host}:${webPort}/hello`]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(text(r.stdout), `GET /hello 0 ${sha(new Uint8Array())}\n`);
        }
        const body = new Uint8Array(randomBytes(3 * 1024 * 1024));
        const file = `${dir}/body.bin`;
        await Deno.writeFile(file, body);
        const r = await runWith("curl", [
          "-sS",
          "-m",
          "60",
          "--data-binary",
          `@${file}`,
          `http://127.0.0.1:${webPort}/upload`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(text(r.stdout), `POST /upload ${body.length} ${sha(body)}\n`);
      });

      await t.step(
        "nc -N: the client shuts its write side, the target sees EOF and replies",
        async () => {
          if (!has("nc")) return;
          const input = new Uint8Array(randomBytes(1024 * 1024));
          const r = await runWith("nc", ["-N", "127.0.0.1", String(halfPort)], input);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(text(r.stdout), `got ${input.length} bytes ${sha(input)}\n`);
        },
      );

      await t.step("socat: the same half-close, the reply read to the end", async () => {
        if (!has("socat")) return;
        const input = new TextEncoder().encode("hello through the upstream");
        // -t 600: socat would wait 10 min for the far end; the run is killed after 60 s.
        const r = await runWith("socat", ["-t", "600", "-", `TCP:127.0.0.1:${halfPort}`], input);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(text(r.stdout), `got ${input.length} bytes ${sha(input)}\n`);
      });

      await t.step(
        "a target that refuses: curl gets an empty reply, telad logs the dial",
        async () => {
          if (!has("curl")) return;
          const r = await runWith("curl", ["-sS", "-m", "30", `http://127.0.0.1:${deadPort}/`]);
          assert.equal(r.code, 52, `curl: expected "Empty reply from server" (52): ${r.stderr}`);
          await agent!.waitFor(
            new RegExp(`\\[upstream\\] WARN: dead: dial 127\\.0\\.0\\.1:${closedTarget} failed: `),
            10_000,
          );
        },
      );

      await t.step("telad stops (SIGTERM): every upstream port is released", async () => {
        await agent!.stop();
        for (const port of [webPort, halfPort, deadPort]) {
          await assert.rejects(
            Deno.connect({ hostname: "127.0.0.1", port }),
            Deno.errors.ConnectionRefused,
          );
        }
      });
    } finally {
      await agent?.stop();
      replier.close();
      await http.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "telad -config with a bad telad.yaml: stderr names the file, the line and the fix; exit 3",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "upstream-cfg-" });
    const path = `${dir}/telad.yaml`;
    const head = "hub: ws://127.0.0.1:9\nmachines:\n  - name: barn\n";
    const cases: [string, string][] = [
      [
        `${head}    ports: [22]
    gateway:
      port: 8080
      routes:
        - path: /api/
          target: 4000
        - path: /
          target: 3000
        - path: /api/
          target: 4001
`,
        `${path}:12: machines[0] (barn): gateway route path "/api/" is given twice, first at ` +
        `line 8 (keep one route per path: a request can go to one target only)`,
      ],
      [
        `${head}    ports: [22, 8080]
    gateway:
      port: 8080
      routes: [{ path: /, target: 3000 }]
`,
        `${path}:6: machines[0] (barn): gateway.port 8080 is also a service port of this ` +
        `machine, at line 4 (a tunnel port serves one thing: give the gateway a port no ` +
        `service uses)`,
      ],
      [
        `${head}    ports: [22]
    upstreams:
      - port: 5432
        target: db:5432
  - name: nas
    target: 10.0.0.9
    ports: [22]
    upstreams:
      - port: 5432
        target: db2:5432
`,
        `${path}:12: machines[1] (nas): upstreams[0]: port 5432 is already the listen port of ` +
        `an upstream of machines[0] (barn) at line 6 (each upstream needs its own port on this ` +
        `host: change one)`,
      ],
      [
        `${head}    ports: [22]
    upstreams:
      - port: 5432
        target: db.internal
`,
        `${path}:7: machines[0] (barn): upstreams[0].target "db.internal" is not host:port ` +
        `with a port 1-65535 (e.g. db.internal:5432, or [::1]:5432 for an IPv6 address)`,
      ],
    ];
    try {
      for (const [yaml, want] of cases) {
        await Deno.writeTextFile(path, yaml);
        const r = await run("telad", ["-config", path], dir, {}, 60_000);
        assert.equal(r.code, 3, `exit status for ${want}\n${r.stderr}`);
        assert.ok(
          r.stderr.split("\n").includes(`Error: ${want}`),
          `stderr lacks "Error: ${want}":\n${r.stderr}`,
        );
        assert.doesNotMatch(r.stderr, /connecting to hub/, "nothing started");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("telad -config: an unknown key is a configuration error (exit 3) with file:line and a did-you-mean", async () => {
  const dir = await Deno.makeTempDir({ prefix: "upstream-key-" });
  try {
    const path = `${dir}/telad.yaml`;
    // "writeable" (a typo) before allowDelete: the typo is reported, not allowDelete.
    await Deno.writeTextFile(
      path,
      `hub: ws://127.0.0.1:1
machines:
  - name: barn
    ports: [22]
    shares:
      - name: logs
        path: ${dir}
        writeable: true
        allowDelete: true
`,
    );
    const r = await runProgram("telad", ["-config", path], { net: false, env: { HOME: dir } });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(
      r.stderr.split("\n")[0],
      `Error: ${path}:8: unknown key "writeable" in machines[0] (barn) shares[0] (did you ` +
        `mean "writable"?)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "telad -config: an unreachable service is a warning with file:line; telad runs",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "upstream-warn-" });
    const down = freeTcpPort();
    let agent: Proc | undefined;
    try {
      agent = await telad(
        dir,
        `hub: ws://127.0.0.1:${freeTcpPort()}
machines:
  - name: barn
    services:
      - port: ${down}
        name: SSH
`,
      );
      const path = `${dir}/telad.yaml`;
      const unreachable = await agent.waitFor(/^.*WARN: .*not reachable.*$/, 30_000);
      assert.match(
        unreachable[0],
        new RegExp(
          `\\[telad\\] WARN: ${path}:5: service "SSH" \\(port ${down}\\) of machine "barn" is ` +
            `not reachable at 127\\.0\\.0\\.1:${down}: .+ \\(telad starts anyway; start the ` +
            `service, or fix the machine's 'target' or the port\\)$`,
        ),
      );
      await agent.waitFor(/connecting to hub/, 30_000);
    } finally {
      await agent?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
