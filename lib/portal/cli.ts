/**
 * `telahubd portal serve`: runs our single-user portal ({@link portalHandler}, book Appendix
 * D) until SIGINT/SIGTERM. Hubs register with it (`telahubd portal add`), clients add it as a
 * remote (`tela remote add`) and resolve hub names through it.
 * @module
 */
import { type Command, command, UsageError } from "../cli/mod.ts";
import { isListenAddress } from "../hub/config.ts";
import { logger, setLogLevel } from "../log/mod.ts";
import { portalHandler } from "./server.ts";
import { newUserToken, PortalStore, sha256Hex } from "./store.ts";

const log = logger("portal");

/** Default HTTP port of `telahubd portal serve`. */
export const DEFAULT_PORTAL_PORT = 8090;

/** The running portal. */
export interface RunningPortal {
  port: number;
  store: PortalStore;
  /** The bearer token made at this start (printed once), if one was. */
  generatedToken?: string;
  shutdown(): Promise<void>;
}

/**
 * Opens the store, settles the user token and starts serving.
 * @param opts.dataDir folder of `portal.json`.
 * @param opts.token the user bearer token to require (replaces the stored one).
 * @param opts.open serve the user endpoints without a token.
 * @throws {PortalStoreError} for a bad store file; `Deno.errors.AddrInUse` and the like
 *   when the port cannot be bound.
 */
export async function startPortal(opts: {
  dataDir: string;
  listen?: string;
  port?: number;
  token?: string;
  open?: boolean;
  allowOrigins?: string[];
}): Promise<RunningPortal> {
  const store = await PortalStore.open(opts.dataDir);
  let generatedToken: string | undefined;
  if (opts.token) {
    const h = sha256Hex(opts.token);
    if (store.state.userTokenHash !== h) await store.update((s) => void (s.userTokenHash = h));
  } else if (!store.state.userTokenHash && !opts.open) {
    generatedToken = newUserToken();
    await store.update((s) => void (s.userTokenHash = sha256Hex(generatedToken!)));
  }
  const handler = portalHandler({ store, open: opts.open, allowOrigins: opts.allowOrigins });
  const server = Deno.serve({
    hostname: opts.listen ?? "0.0.0.0",
    port: opts.port ?? DEFAULT_PORTAL_PORT,
    onListen() {},
  }, handler);
  return {
    port: server.addr.port,
    store,
    generatedToken,
    shutdown: () => server.shutdown(),
  };
}

/** The `serve` sub-command of `telahubd portal`. */
export function portalServeCommand(): Command {
  return command({
    name: "serve",
    summary: "Run a small portal (hub directory) for your hubs.",
    usage: [
      "telahubd portal serve [-listen <addr>] [-port <n>] [-data <dir>] [-token <token> | -open]",
    ],
    description: `Serves the Tela portal protocol (book, Appendix D, version 1.1) for one user:
/.well-known/tela, the hub directory /api/hubs (hubs register with "telahubd portal add",
clients resolve names through it after "tela remote add"), /api/hubs/sync, the admin proxy
/api/hub-admin/<hub>/<operation> and /api/fleet/agents. State lives in <dir>/portal.json
(mode 0600; sync tokens and the user token are kept as SHA-256 hashes). The user token is
-token (else TELA_PORTAL_TOKEN); without one, a token is made on first start and printed
once on stdout. -open serves the directory without a user token (the sync token is still
required). Put it behind TLS (a reverse proxy) when it is reachable from outside.`,
    flags: {
      listen: { type: "string", arg: "addr", usage: "Address to listen on. Default: 0.0.0.0" },
      port: {
        type: "number",
        usage: `HTTP port (0 = a free one). Default: ${DEFAULT_PORTAL_PORT}`,
      },
      data: {
        type: "string",
        arg: "dir",
        usage: "Folder of portal.json. Default: ./data/portal",
      },
      token: {
        type: "string",
        arg: "token",
        usage: "User bearer token to require (default: TELA_PORTAL_TOKEN, else the stored one)",
      },
      open: { type: "boolean", usage: "Serve the directory without a user token" },
      "allow-origin": {
        type: "string",
        arg: "origins",
        usage: "Comma-separated origins allowed to POST/PATCH/DELETE from a browser",
      },
      v: { type: "boolean", usage: "Verbose logging" },
    },
    examples: [
      "telahubd portal serve -port 8090 -data /var/lib/tela-portal",
      "telahubd portal serve -listen 127.0.0.1 -port 8090 -open",
    ],
    seeAlso: ["telahubd portal add", "tela remote add"],
    async run({ values, out }) {
      if (values.v) setLogLevel("debug");
      const port = values.port;
      if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
        throw new UsageError(`-port ${port} is not a port: use 0..65535`);
      }
      if (values.listen !== undefined && !isListenAddress(values.listen)) {
        throw new UsageError(`-listen ${values.listen} is not an IP address: use e.g. 127.0.0.1`);
      }
      const token = values.token ?? Deno.env.get("TELA_PORTAL_TOKEN") ?? undefined;
      if (token && values.open) throw new UsageError("-open and a token exclude each other");
      const dataDir = values.data ?? "data/portal";
      const p = await startPortal({
        dataDir,
        listen: values.listen,
        port,
        token: token || undefined,
        open: values.open,
        allowOrigins: (values["allow-origin"] ?? "").split(",").map((s) => s.trim()).filter(
          Boolean,
        ),
      });
      const host = values.listen ?? "0.0.0.0";
      if (p.generatedToken) {
        out(`Portal token: ${p.generatedToken}`);
        out(`  Clients: tela remote add <name> http://<this host>:${p.port} -token <token>`);
        out(`  Hubs:    telahubd portal add <name> http://<this host>:${p.port} -token <token>`);
      }
      log.info(
        `telahubd portal listening on ${host}:${p.port} (portal ${p.store.state.portalId}, ` +
          `data ${p.store.path}${values.open ? ", open" : ""})`,
      );
      const stop = Promise.withResolvers<void>();
      const onSig = () => stop.resolve();
      Deno.addSignalListener("SIGINT", onSig);
      Deno.addSignalListener("SIGTERM", onSig);
      await stop.promise;
      Deno.removeSignalListener("SIGINT", onSig);
      Deno.removeSignalListener("SIGTERM", onSig);
      await p.shutdown();
      return 0;
    },
  });
}
