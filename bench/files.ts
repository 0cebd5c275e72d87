/**
 * File-share transfer rates next to curl through the same tunnel (issue 12's closing note):
 * real `telahubd`, `telad -config` with a writable share and an HTTP port, `tela connect`,
 * then per round, 64 MiB each (`FILES_BENCH_MIB` to change):
 *
 * - `curl` GET of the file from an HTTP server behind the agent (download through the tunnel),
 * - `curl` POST of the file to that server (upload through the tunnel),
 * - `tela files get` and `tela files put` of the same file (each its own process, as a user
 *   runs them; process start and, for put, the local checksum pass are included).
 *
 * Usage: `deno run -A bench/files.ts [rounds]` (default 2). Prints a Markdown table of the
 * median rate of each, in MiB/s. No assertion on speed; the bytes are checked (SHA-256).
 * @module
 */
import { createHash } from "node:crypto";
import { formatTable } from "./_table.ts";
import {
  DENO_DIR,
  freeTcpPort,
  type Proc,
  REPO_ROOT,
  spawnDeno,
  startClient,
  startHub,
  threeHomes,
  tunnelUps,
} from "../tests/e2e/harness.ts";

const MiB = 1024 * 1024;
const owner = "be4c".repeat(16);

async function shaFile(path: string): Promise<string> {
  const h = createHash("sha256");
  const f = await Deno.open(path);
  const buf = new Uint8Array(MiB);
  while (true) {
    const n = await f.read(buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
  }
  f.close();
  return h.digest("hex");
}

/** Runs a command to completion; its seconds, or throws with its stderr. */
async function timed(cmd: string, args: string[], env?: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, { args, env, stdout: "null", stderr: "piped" }).output();
  const s = (performance.now() - t0) / 1000;
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs the bench; returns the table. */
export async function benchFiles(rounds: number, mib: number): Promise<string> {
  const size = mib * MiB;
  const { root, hubDir, agentHome, clientHome } = await threeHomes("files-bench-");
  const src = `${root}/src.bin`;
  {
    const f = await Deno.open(src, { write: true, create: true });
    const block = new Uint8Array(MiB);
    for (let i = 0; i < mib; i++) {
      for (let o = 0; o < MiB; o += 65536) crypto.getRandomValues(block.subarray(o, o + 65536));
      await f.write(block);
    }
    f.close();
  }
  const srcSha = await shaFile(src);
  const web = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    if (req.method === "POST") {
      let n = 0;
      for await (const c of req.body!) n += c.length;
      return new Response(`${n}\n`);
    }
    const f = await Deno.open(src);
    return new Response(f.readable, { headers: { "content-length": String(size) } });
  });
  const procs: Proc[] = [];
  const results: Record<string, number[]> = {
    "curl GET (download)": [],
    "tela files get": [],
    "curl POST (upload)": [],
    "tela files put": [],
  };
  try {
    const hub = await startHub(hubDir, owner);
    procs.push(hub.proc);
    await Deno.writeTextFile(
      `${agentHome}/telad.yaml`,
      `hub: ${hub.url}\ntoken: ${owner}\nmachines:\n  - name: bench\n    ports: [${web.addr.port}]\n` +
        `    shares:\n      - name: s\n        path: ${root}/share\n        writable: true\n` +
        `        maxFileSize: ${mib + 1}MB\n`,
    );
    const agent = spawnDeno("telad", "cmd/telad.ts", ["-config", `${agentHome}/telad.yaml`], {
      HOME: agentHome,
    });
    procs.push(agent);
    await agent.waitFor(/registered with hub/, 90_000);
    const local = freeTcpPort();
    const client = startClient(clientHome, [
      "-hub",
      hub.url,
      "-machine",
      "bench",
      "-token",
      owner,
      "-ports",
      `${local}:${web.addr.port}`,
    ]);
    procs.push(client);
    await client.waitFor(/\[control\] API listening/);
    await tunnelUps(client, 1);
    const tela = (args: string[]) =>
      timed(Deno.execPath(), ["run", "-A", `${REPO_ROOT}cmd/tela.ts`, "files", ...args], {
        NO_COLOR: "1",
        DENO_DIR,
        HOME: clientHome,
      });
    const f = ["-machine", "bench", "-share", "s"];
    for (let r = 0; r < rounds; r++) {
      results["curl GET (download)"].push(
        await timed("curl", ["-sS", "-o", `${root}/curl.bin`, `http://127.0.0.1:${local}/`]),
      );
      results["curl POST (upload)"].push(
        await timed("curl", [
          "-sS",
          "-o",
          "/dev/null",
          "-H",
          "Expect:",
          "--data-binary",
          `@${src}`,
          `http://127.0.0.1:${local}/`,
        ]),
      );
      results["tela files put"].push(await tela(["put", ...f, src, "up.bin"]));
      results["tela files get"].push(
        await tela(["get", ...f, "up.bin", "-o", `${root}/got.bin`]),
      );
      for (const p of [`${root}/curl.bin`, `${root}/share/up.bin`, `${root}/got.bin`]) {
        if (await shaFile(p) !== srcSha) throw new Error(`${p}: bytes differ`);
      }
    }
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await web.shutdown();
    await Deno.remove(root, { recursive: true });
  }
  return formatTable(
    `${mib} MiB through one tunnel (loopback hub, WebSocket relay), median of ${rounds}`,
    ["transfer", "MiB/s", "seconds"],
    Object.entries(results).map(([k, v]) => [
      k,
      (mib / median(v)).toFixed(1),
      median(v).toFixed(2),
    ]),
  );
}

if (import.meta.main) {
  const rounds = Number(Deno.args[0] ?? 2);
  const mib = Number(Deno.env.get("FILES_BENCH_MIB") ?? 64);
  console.log(await benchFiles(rounds, mib));
}
