/**
 * Where the hub keeps its state (book, *Run a hub on the public internet*; spec
 * hub-http-api.md §10.3-10.4; issue 9): the lookup order, the path in the first-start banner,
 * flags and environment never written into the file, the listen address, and leftovers of
 * interrupted writes removed at start.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { showOwnerToken, startHub } from "../../lib/hub/mod.ts";
import { freeTcpPort } from "../free_port.ts";
import { runHubOnce, startHubProcess } from "./scripted_peers.ts";

async function readYaml(path: string): Promise<Record<string, unknown>> {
  return parseYaml(await Deno.readTextFile(path)) as Record<string, unknown>;
}

Deno.test({
  name: "telahubd -port N on a fresh config writes neither the port nor any env value to the file",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = freeTcpPort();
    const hub = await startHubProcess({
      args: ["-port", String(port)],
      env: { TELAHUBD_NAME: "from-env", TELAHUBD_UDP_HOST: "udp.example" },
    });
    try {
      assert.equal(hub.port, port);
      const doc = await readYaml(hub.configPath);
      for (const key of ["port", "udpPort", "name", "udpHost", "wwwDir"]) {
        assert.equal(doc[key], undefined, `${key} written: ${JSON.stringify(doc[key])}`);
      }
      assert.ok(doc.hubId, "the hub's own state (hubId, tokens) is written");
      assert.ok((doc.auth as { tokens: unknown[] }).tokens.length >= 2);
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "an existing file keeps its own values when flags and environment override them",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = freeTcpPort();
    // No hubId: the hub must write the file (to add one) while -port and env are in force.
    const hub = await startHubProcess({
      configYaml: "port: 9000\nudpPort: 9001\nname: from-file\n",
      args: ["-port", String(port)],
      env: { TELAHUBD_NAME: "from-env", TELAHUBD_UDP_PORT: "0" },
    });
    try {
      assert.equal(hub.port, port);
      const doc = await readYaml(hub.configPath);
      assert.ok(doc.hubId, "the file was rewritten");
      assert.deepEqual([doc.port, doc.udpPort, doc.name], [9000, 9001, "from-file"]);
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "first start without -config: ./data/telahubd.yaml, named in the banner with show-owner",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess({ configFlag: false });
    try {
      const path = `${hub.dir}/data/telahubd.yaml`;
      const banner = await hub.waitStdout(/Show it again with: .*\n=+$/m);
      const token = banner.match(/^ {2}Owner token: ([0-9a-f]{64})$/m)?.[1];
      assert.ok(token, banner);
      assert.ok(banner.includes(`  Persisted to: ${path}\n`), banner);
      assert.ok(
        banner.includes(`  Show it again with: telahubd user show-owner -config ${path}\n`),
        banner,
      );
      assert.ok(!banner.includes("tela admin"), "recommends only commands that exist");
      assert.equal(await showOwnerToken(path), token, "show-owner finds the banner's token");
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "TELAHUBD_CONFIG names the config when -config is absent",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "telahubd-test-" });
    const printed: string[] = [];
    const env: Record<string, string> = {
      TELAHUBD_PORT: "0",
      TELAHUBD_UDP_PORT: "0",
      TELAHUBD_CONFIG: "elsewhere/hub.yaml",
    };
    try {
      const hub = await startHub({
        env: (n) => env[n],
        print: (l) => printed.push(l),
        cwd: dir,
        listen: "127.0.0.1",
      });
      await hub.shutdown();
      const path = `${dir}/elsewhere/hub.yaml`;
      assert.equal(hub.configPath, path);
      assert.ok(printed.join("\n").includes(`  Persisted to: ${path}\n`), printed.join("\n"));
      assert.ok((await readYaml(path)).hubId);
      await assert.rejects(Deno.stat(`${dir}/data/telahubd.yaml`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** True when an HTTP GET to `host:port` gets an answer. */
async function answers(host: string, port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://${host}:${port}/.well-known/tela`);
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

Deno.test({
  name: "listen address: option, TELAHUBD_LISTEN and YAML listen: bind only that address",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // 127.0.0.2 is another loopback address on Linux: reachable only when bound to 0.0.0.0.
    const dir = await Deno.makeTempDir({ prefix: "telahubd-test-" });
    const start = (
      opts: { listen?: string; env?: Record<string, string>; yaml?: string },
    ) => {
      Deno.writeTextFileSync(`${dir}/telahubd.yaml`, opts.yaml ?? "");
      return startHub({
        configPath: `${dir}/telahubd.yaml`,
        env: (n) =>
          ({
            TELAHUBD_PORT: "0",
            TELAHUBD_UDP_PORT: "0",
            TELA_OWNER_TOKEN: "o".repeat(64),
            ...opts.env,
          })[n],
        print: () => {},
        cwd: dir,
        listen: opts.listen,
      });
    };
    try {
      const all = await start({ yaml: "" });
      try {
        assert.equal(all.listen, "0.0.0.0");
        assert.ok(await answers("127.0.0.1", all.port));
        assert.ok(await answers("127.0.0.2", all.port), "default binds every address");
      } finally {
        await all.shutdown();
      }
      for (
        const o of [
          { listen: "127.0.0.1", yaml: "" },
          { env: { TELAHUBD_LISTEN: "127.0.0.1" }, yaml: "listen: 0.0.0.0\n" },
          { yaml: "listen: 127.0.0.1\n" },
          { listen: "127.0.0.1", env: { TELAHUBD_LISTEN: "0.0.0.0" }, yaml: "listen: 0.0.0.0\n" },
        ]
      ) {
        const hub = await start(o);
        try {
          assert.equal(hub.listen, "127.0.0.1", JSON.stringify(o));
          assert.ok(await answers("127.0.0.1", hub.port), JSON.stringify(o));
          assert.ok(!(await answers("127.0.0.2", hub.port)), `${JSON.stringify(o)}: not 127.0.0.2`);
        } finally {
          await hub.shutdown();
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    const bad = await runHubOnce(["-listen", "not-an-address"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /-listen not-an-address is not an IP address/);
  },
});

Deno.test({
  name: "a port in use stops the hub with the address and the fix, before it writes or prints",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "telahubd-busy-" });
    const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (held.addr as Deno.NetAddr).port;
    try {
      const r = await runHubOnce([
        "-config",
        `${dir}/telahubd.yaml`,
        "-listen",
        "127.0.0.1",
        "-port",
        String(port),
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `Error: cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use .*-port`,
        ),
      );
      assert.equal(r.stdout, "", "no first-start banner for a hub that did not start");
      await assert.rejects(Deno.stat(`${dir}/telahubd.yaml`), Deno.errors.NotFound);
    } finally {
      held.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a bad environment value stops the hub with exit 2 naming the variable, before it writes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "telahubd-env-" });
    try {
      const cases: [Record<string, string>, RegExp][] = [
        [{ TELAHUBD_PORT: "abc" }, /TELAHUBD_PORT="abc" is not a port number 0-65535/],
        [{ TELAHUBD_UDP_PORT: "70000" }, /TELAHUBD_UDP_PORT="70000" is not a port number/],
        [{ TELAHUBD_LISTEN: "nowhere" }, /TELAHUBD_LISTEN="nowhere" is not an IP address/],
        [{ TELAHUBD_MAX_UNAUTHENTICATED: "-1" }, /TELAHUBD_MAX_UNAUTHENTICATED="-1" is not/],
        [{ TELAHUBD_WS_IDLE_TIMEOUT: "20s" }, /TELAHUBD_WS_IDLE_TIMEOUT="20s" is not a time/],
      ];
      for (const [env, message] of cases) {
        const r = await runHubOnce(
          ["-config", `${dir}/telahubd.yaml`, "-listen", "127.0.0.1"],
          env,
        );
        // Exit 2, a usage error: the variable stands in for its flag (as in tela and telad).
        assert.equal(r.code, 2, `${JSON.stringify(env)}: ${r.stderr}`);
        assert.match(r.stderr, /^Error: environment variable TELAHUBD_/);
        assert.match(r.stderr, message);
        assert.match(r.stderr, /or unset it/);
        await assert.rejects(Deno.stat(`${dir}/telahubd.yaml`), Deno.errors.NotFound);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "leftover temp files of interrupted config writes are removed at start; others stay",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "telahubd-test-" });
    const owner = "a".repeat(64);
    try {
      const stale = [
        ".telahubd.yaml.tmp-0a1b2c3d",
        ".telahubd.history.json.tmp-99887766",
        ".deadbeef.tmp",
      ];
      const kept = ["notes.txt", ".telahubd.yaml.bak", "telahubd.yaml.tmp-0a1b2c3d"];
      for (const n of [...stale, ...kept]) {
        await Deno.writeTextFile(
          `${dir}/${n}`,
          `auth:\n  tokens:\n    - {id: owner, token: ${owner}}\n`,
        );
      }
      const hub = await startHub({
        configPath: `${dir}/telahubd.yaml`,
        env: (n) => ({ TELAHUBD_PORT: "0", TELAHUBD_UDP_PORT: "0" })[n],
        print: () => {},
        cwd: dir,
        listen: "127.0.0.1",
      });
      await hub.shutdown();
      const left = new Set([...Deno.readDirSync(dir)].map((e) => e.name));
      for (const n of stale) assert.ok(!left.has(n), `${n} removed`);
      for (const n of kept) assert.ok(left.has(n), `${n} kept`);
      assert.ok(left.has("telahubd.yaml"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
