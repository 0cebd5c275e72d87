/**
 * `deno task demo`: the whole product on one machine with no configuration. Starts a hub,
 * an agent exposing a small built-in web page, and a client, all on loopback; prints the
 * client's `Services available:` block and a `curl` line that works; fetches the page once
 * through the tunnel to prove it; runs until Ctrl-C. Add `-v` for every log line.
 *
 * The one module that composes hub, agent and client (so it is exempt from the import
 * direction rules of tests/layout); `cmd/demo.ts` only calls {@link demoMain}.
 * @module
 */
import { startHub } from "../hub/mod.ts";
import { MachineAgent } from "../agent/mod.ts";
import { formatServicesBlock, MachineConnection } from "../client/mod.ts";
import { bytesToHex } from "../protocol/mod.ts";
import { sleep, wireguardEngine } from "../session/mod.ts";
import { sessionBind } from "../transport/mod.ts";
import { logger, setLogLevel } from "../log/mod.ts";

const PAGE = `<!doctype html>
<html><head><title>Hello from web01</title></head>
<body><h1>Hello from web01</h1>
<p>This page is served on the agent's side and reached through a WireGuard tunnel
set up through the hub. Whatever path it takes, the hub only sees ciphertext.</p></body></html>
`;

/**
 * The demo web service: port 8080 if free, else the next free one up to 8099, else any.
 * It listens on 127.0.0.2 where that address exists (Linux), with the agent in gateway
 * mode (`-target-host 127.0.0.2`), so the client can take `localhost:8080` itself, as on
 * two machines; elsewhere on 127.0.0.1, and the client moves to port+10000.
 */
function startWebService(): Deno.HttpServer<Deno.NetAddr> {
  const handler = () => new Response(PAGE, { headers: { "content-type": "text/html" } });
  for (const hostname of ["127.0.0.2", "127.0.0.1"]) {
    for (let port = 8080; port < 8100; port++) {
      try {
        return Deno.serve({ hostname, port, onListen() {} }, handler);
      } catch (err) {
        if (err instanceof Deno.errors.AddrInUse) continue;
        if (hostname === "127.0.0.2") break; // no such address here: use 127.0.0.1
        throw err;
      }
    }
  }
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
}

/**
 * Runs the demo until SIGINT/SIGTERM.
 * @param args command-line words; `-v` (or `--v`) prints every log line.
 * @returns the exit status: 0 after Ctrl-C, 1 when the page could not be fetched through
 *   the tunnel.
 */
export async function demoMain(args: string[]): Promise<number> {
  const verbose = args.includes("-v") || args.includes("--v");
  setLogLevel(verbose ? "debug" : "warn");
  const dir = await Deno.makeTempDir({ prefix: "tela-demo-" });
  const owner = bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
  const web = startWebService();
  const webPort = web.addr.port;
  const webHost = web.addr.hostname;
  const hub = await startHub({
    configPath: `${dir}/telahubd.yaml`,
    // TELAHUBD_LISTEN keeps the hub (HTTP+WS and UDP relay) on loopback.
    env: (n) =>
      ({
        TELAHUBD_PORT: "0",
        TELAHUBD_UDP_PORT: "0",
        TELAHUBD_LISTEN: "127.0.0.1",
        TELA_OWNER_TOKEN: owner,
      })[n],
    print: () => {},
    cwd: dir,
  });
  const hubUrl = `ws://127.0.0.1:${hub.port}`;
  console.log(`hub     telahubd on ${hubUrl}`);
  console.log(
    `agent   telad -hub ${hubUrl} -machine web01 -ports ${webPort}:HTTP` +
      (webHost === "127.0.0.1" ? "" : ` -target-host ${webHost}`) +
      `\n        (exposes the built-in web page on ${webHost}:${webPort})`,
  );

  const agent = new MachineAgent({
    name: "web01",
    displayName: "Demo web server",
    target: webHost,
    token: owner,
    ports: [webPort],
    services: [{ port: webPort, proto: "tcp", name: "HTTP", description: "demo web page" }],
  }, {
    hubUrl,
    agentId: crypto.randomUUID(),
    registrationIds: {},
    bind: sessionBind(),
    engine: wireguardEngine,
    log: () => logger("telad"),
  });
  const agentRun = agent.run();
  while (agent.registrations === 0) await new Promise((r) => setTimeout(r, 20));

  console.log(`client  tela connect -hub ${hubUrl} -machine web01 -ports ${webPort}\n`);
  let localPort = 0;
  let tunnelUp!: () => void;
  const firstSession = new Promise<void>((r) => (tunnelUp = r));
  const client = new MachineConnection({
    hubUrl,
    machine: "web01",
    token: owner,
    mappings: [{ local: webPort, remote: webPort }],
    bind: sessionBind(),
    engine: wireguardEngine,
    log: logger("tela"),
    onBound: (bound, wanted) => {
      localPort = bound[0].localPort;
      console.log(formatServicesBlock(bound, wanted));
    },
    onSession: () => tunnelUp(),
  });
  client.bindExplicit();
  const clientRun = client.run();
  await firstSession;

  const url = `http://localhost:${localPort}/`;
  let fetched: { status: number; body: string } | undefined;
  let lastError: unknown;
  for (let i = 0; i < 5 && !fetched; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      fetched = { status: res.status, body: await res.text() };
    } catch (err) {
      lastError = err;
      await sleep(500);
    }
  }
  if (!fetched) {
    console.error(`\nError: could not fetch ${url} through the tunnel: ${lastError}`);
    console.error("Run `deno task demo -v` to see every log line.");
    return 1;
  }
  const title = fetched.body.match(/<title>(.*)<\/title>/)?.[1];
  console.log(
    `\nFetched ${url} through the tunnel: HTTP ${fetched.status}, "${title}" ` +
      `(${fetched.body.length} bytes, transport ${client.transport ?? "websocket"})`,
  );
  console.log(`\nTry it yourself:\n  curl ${url}\n\nPress Ctrl-C to stop.`);

  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", () => resolve());
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", () => resolve());
  });
  console.error("\nstopping"); // a log line: stderr, like every log
  setLogLevel("error"); // the agent noticing the hub go away is expected now
  client.stop();
  agent.stop();
  await Promise.allSettled([clientRun, agentRun]);
  await hub.shutdown();
  await web.shutdown();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  return 0;
}
