/**
 * The book's *Upstreams through a Tela tunnel* (issue 13, item 2), every program a real
 * process on loopback: machine A runs `telad` exposing a service; machine B runs
 * `tela connect` to A and `telad -config` with an upstream whose target is the local port
 * `tela connect` bound; any program on B that calls the upstream's port reaches A's service
 * through the hub. Byte-exact, with a real client program (`socat`) and half-close passed
 * end to end.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  freeTcpPort,
  localPort,
  openThrough,
  registrations,
  sceneTest,
  servicePort,
  waitLines,
} from "./_scene.ts";
import { IN_CI } from "../e2e/harness.ts";

/** Whether `program` runs here (`program -V` starts at all). */
function has(program: string): boolean {
  try {
    new Deno.Command(program, { args: ["-V"], stdout: "null", stderr: "null" }).outputSync();
    return true;
  } catch {
    return false;
  }
}

/** Runs `cmd` with `input` on stdin to completion; its stdout bytes and exit status. */
async function pipeThrough(
  cmd: string,
  args: string[],
  input: Uint8Array,
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
  const [out] = await Promise.all([
    child.output(),
    w.write(input).then(() => w.close()),
  ]);
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

sceneTest(
  "Upstreams through a Tela tunnel (book): B's upstream reaches A's service via tela connect",
  async (s, step, hub) => {
    if (!has("socat")) {
      if (IN_CI) throw new Error("socat is required (apt-get install socat)");
      console.log("  socat missing: the socat step is skipped locally");
    }
    // Machine A: telad exposing a service (an echo server with a banner).
    const svc = s.service("alpha web", servicePort());
    const agentA = await s.agent("alpha", `${svc.port}:web`, hub.owner);
    await registrations(agentA, "alpha", 1);

    // Machine B: tela connect to A; the service is on localhost:<bound>.
    const homeB = await s.tempDir("machine-b");
    const client = s.connect(homeB, "alpha", hub.owner);
    const bound = await localPort(client, "web");

    // Machine B also runs telad with an upstream to that port, and a service of its own.
    const own = s.service("beta ssh", servicePort());
    const upstreamPort = freeTcpPort();
    await Deno.writeTextFile(
      `${homeB}/telad.yaml`,
      `hub: ${hub.url}
token: ${hub.owner}
machines:
  - name: beta
    services:
      - port: ${own.port}
        name: ssh
    upstreams:
      - port: ${upstreamPort}
        target: localhost:${bound}
        name: alpha-web
`,
    );
    const agentB = s.spawn("telad:beta", "telad", ["-config", `${homeB}/telad.yaml`], homeB);

    await step("telad on B logs the upstream (spec §6 lines) and registers beta", async () => {
      await agentB.waitFor(
        new RegExp(`\\[upstream\\] alpha-web: :${upstreamPort} -> localhost:${bound}$`),
        60_000,
      );
      await agentB.waitFor(/\[upstream\] 1 listener\(s\) started$/);
      await registrations(agentB, "beta", 1);
      const lines = agentB.lines;
      const started = lines.findIndex((l) => /\[upstream\] 1 listener/.test(l));
      const connecting = lines.findIndex((l) => /connecting to hub/.test(l));
      assert.ok(started >= 0 && started < connecting, `upstreams start before the hub\n${lines}`);
    });

    await step(
      "a program on B calling the upstream port reaches A's service, byte-exact",
      async () => {
        const conn = await openThrough(upstreamPort, "alpha web");
        try {
          await conn.echo(1024 * 1024);
        } finally {
          conn.close();
        }
      },
    );

    await step("socat on B: 2 MiB in, shut write, A's echo comes back whole and ends", async () => {
      if (!has("socat")) return;
      const input = new Uint8Array(randomBytes(2 * 1024 * 1024));
      // socat waits (-t) up to 600 s for the far end after its own EOF; the run is killed
      // after 60 s, so only an end passed back through upstream, tela and the tunnel lets it
      // exit 0.
      const r = await pipeThrough(
        "socat",
        ["-t", "600", "-", `TCP:127.0.0.1:${upstreamPort}`],
        input,
      );
      assert.equal(r.code, 0, `socat: ${r.stderr}`);
      const banner = new TextEncoder().encode("alpha web\n");
      assert.equal(r.stdout.length, banner.length + input.length, "echo length");
      assert.deepEqual(r.stdout.subarray(0, banner.length), banner);
      assert.ok(
        r.stdout.subarray(banner.length).every((b, i) => b === input[i]),
        "the echoed bytes differ from those sent",
      );
    });

    await step("telad on B stops (SIGTERM): the upstream port is released", async () => {
      await agentB.stop();
      await waitLines(agentB, /shutting down/, 1, 5_000);
      await assert.rejects(
        Deno.connect({ hostname: "127.0.0.1", port: upstreamPort }),
        Deno.errors.ConnectionRefused,
      );
    });
  },
);
