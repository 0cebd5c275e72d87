/**
 * Starting and stopping a hub: config lookup and bootstrap, history, the UDP
 * relay, and the front end ({@link startFrontEnd}) for HTTP + WebSocket on one
 * port (book, *Run a hub on the public internet*; spec hub-http-api.md §10.4).
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError, removeStaleTempFiles } from "../config/mod.ts";
import { escapeForLog, logger } from "../log/mod.ts";
import { FileAccessStore } from "./access/store.ts";
import {
  assertConfigReadable,
  bootstrapConfig,
  type BootstrapResult,
  configDir,
  defaultConfigPath,
  envInteger,
  type HubConfigFile,
  type HubSettings,
  loadConfigFile,
  locateConfig,
  resolveSettings,
  saveConfigFile,
} from "./config.ts";
import { consoleHandler } from "./console.ts";
import { validateBridges } from "./bridge.ts";
import { type FrontEnd, startFrontEnd } from "./front_end.ts";
import { withConfigLock } from "./config_lock.ts";
import { HubListenError } from "./errors.ts";
import { History } from "./history.ts";
import { Hub } from "./hub.ts";
import { makeHttpHandler } from "./http.ts";
import { HUB_VERSION } from "./version.ts";
import { UdpRelay } from "./udp_relay.ts";
import { LogRing } from "./log_ring.ts";
import { PAIRING_FILE, PairingCodes } from "./pairing.ts";
import { syncViewerToken } from "./portal_client.ts";
import { portalEnvBootstrap, publicUrlFromEnv } from "./portal_cli.ts";

/** Delay of the first viewer-token push to the portals after start, ms (spec §11: 2 s). */
export const VIEWER_SYNC_DELAY_MS = 2000;

const log = logger("hub");

/** Options of {@link startHub}. */
export interface StartHubOptions {
  /** `-config` path; otherwise the lookup order of the book applies. */
  configPath?: string;
  /** The operator asked for open mode (`-open`): no tokens are generated when none exist. */
  open?: boolean;
  /** Environment lookup (tests inject); default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /**
   * Where the one-time owner-token banner goes; default stdout. The listening line is a log
   * line (stderr): data on stdout, logs on stderr (book, *TDL for the command line*).
   */
  print?: (line: string) => void;
  /** Working directory for `./data/telahubd.yaml`; default `Deno.cwd()`. */
  cwd?: string;
  /** `-port`: HTTP+WS port, over `TELAHUBD_PORT` and the YAML (0 = any free port). */
  port?: number;
  /** `-udp-port`: UDP relay port, over `TELAHUBD_UDP_PORT` and the YAML. */
  udpPort?: number;
  /**
   * `-listen`: address the HTTP+WS listener and the UDP relay bind, over `TELAHUBD_LISTEN`
   * and the YAML's `listen:` (default `0.0.0.0`).
   */
  listen?: string;
  /** Forget machines offline this long, ms (default 24 h; see `Hub`). */
  offlineRetentionMs?: number;
  /** Longest reuse of a cached `/api/status` body while nothing changed, ms (default 1000). */
  statusMaxAgeMs?: number;
  /** How long `/api/admin/agents/{m}/{a}` waits for the agent, ms (default 30 000; tests). */
  mgmtTimeoutMs?: number;
  /**
   * What `POST /api/admin/restart` calls (~500 ms after answering): the `telahubd` command
   * stops the hub and starts its successor. Unset, the endpoint answers 501, so a hub inside
   * another program (a test) never ends its host.
   */
  restart?: () => void;
}

/** A running hub. */
export interface RunningHub {
  /** Address the listeners are bound to (`0.0.0.0` by default). */
  listen: string;
  /** Bound HTTP/WS port. */
  port: number;
  /** Bound UDP relay port, or the configured one when binding failed. */
  udpPort: number;
  udpBound: boolean;
  configPath: string;
  config: HubConfigFile;
  settings: HubSettings;
  hub: Hub;
  history: History;
  /** Identities, grants and portals; the writer of the config file while the hub runs. */
  store: FileAccessStore;
  udp?: UdpRelay;
  /** Live pairing codes. */
  pairing: PairingCodes;
  /** The log ring behind `/api/admin/logs`. */
  logs: LogRing;
  /**
   * Graceful stop: refuses new WebSockets, closes the open ones with 1001, lets
   * in-flight HTTP requests finish for up to `graceMs` (default `shutdownTimeout`), saves
   * history.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Loads (or creates) the config, bootstraps auth, and starts serving (spec §10.4).
 *
 * The config is found as {@link locateConfig} says; leftovers of interrupted atomic writes in
 * its folder are removed first. Flags (`opts`) and the environment override the file's values
 * at run time and are never written into it.
 *
 * @throws {ConfigError} for a bad or unreadable config file (the file is left untouched).
 * @throws {HubListenError} when the HTTP port cannot be bound (in use, needs privileges, no such
 *   address); nothing has been written or printed then.
 */
export async function startHub(opts: StartHubOptions = {}): Promise<RunningHub> {
  const env = opts.env ?? ((n: string) => Deno.env.get(n));
  const print = opts.print ?? ((l: string) => console.log(l));
  const found = locateConfig(opts.configPath, opts.cwd, env);
  const configPath = found ?? defaultConfigPath(opts.cwd);
  try {
    const removed = await removeStaleTempFiles(configDir(configPath));
    if (removed.length) {
      log.info(
        `removed ${removed.length} temp file(s) of interrupted writes in ${configDir(configPath)}`,
      );
    }
  } catch (err) {
    log.warn(`cannot clean temp files in ${configDir(configPath)}: ${(err as Error).message}`);
  }
  if (found) await assertConfigReadable(found);
  const cfg = (found ? await loadConfigFile(found) : undefined) ??
    { auth: { tokens: [], machines: {} } };
  const settings = resolveSettings(cfg, env);
  if (opts.port !== undefined) settings.port = opts.port;
  if (opts.udpPort !== undefined) settings.udpPort = opts.udpPort;
  if (opts.listen !== undefined) settings.listen = opts.listen.replace(/^\[(.*)\]$/, "$1");
  // Tuning knobs (not in Go's telahubd), checked before anything starts: first-message
  // deadline, WebSocket idle timeout, request-head deadline, unauthenticated cap, and the
  // most machine entries the registry keeps.
  const knob = (name: string, what: string) => envInteger(env, name, 1, 1e9, what);
  const knobs: HubKnobs = {
    firstMsg: knob("TELAHUBD_FIRST_MESSAGE_TIMEOUT_MS", "a time in ms"),
    idle: knob("TELAHUBD_WS_IDLE_TIMEOUT", "a time in seconds"),
    headerTimeout: knob("TELAHUBD_HEADER_TIMEOUT_MS", "a time in ms"),
    maxUnauth: knob("TELAHUBD_MAX_UNAUTHENTICATED", "a connection count"),
    maxMachines: knob("TELAHUBD_MAX_MACHINES", "a machine count"),
  };
  // Bind first: a hub that cannot listen stops before it writes its config or a banner.
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: settings.listen, port: settings.port, transport: "tcp" });
  } catch (err) {
    const host = settings.listen.includes(":") ? `[${settings.listen}]` : settings.listen;
    throw new HubListenError(`${host}:${settings.port}`, err);
  }
  try {
    return await serveHub(opts, env, print, {
      configPath,
      cfg,
      settings,
      listener,
      knobs,
    });
  } catch (err) {
    try {
      listener.close();
    } catch { /* the front end owned and closed it */ }
    throw err;
  }
}

/** The environment's tuning knobs; `undefined` keeps the built-in default. */
interface HubKnobs {
  firstMsg?: number;
  idle?: number;
  headerTimeout?: number;
  maxUnauth?: number;
  maxMachines?: number;
}

/** What {@link startHub} resolved before it bound the listener. */
interface HubStart {
  knobs: HubKnobs;
  configPath: string;
  cfg: HubConfigFile;
  settings: HubSettings;
  listener: Deno.TcpListener;
}

/** The rest of {@link startHub}, once the listener is bound: bootstrap, relay, serve. */
async function serveHub(
  opts: StartHubOptions,
  env: (name: string) => string | undefined,
  print: (line: string) => void,
  { configPath, cfg, settings, listener, knobs }: HubStart,
): Promise<RunningHub> {
  // Collect log lines for /api/admin/logs from here on (the ring is the hub's, spec §5.7).
  const logs = new LogRing().attach();
  const bootOpts = { open: !!opts.open, ownerTokenEnv: env("TELA_OWNER_TOKEN") };
  let boot: BootstrapResult | undefined;
  let persisted = false;
  try {
    // Under the config's lock, like every other writer (`telahubd user`, the store): the file
    // is read again first, so an edit made since the first read is the base, not overwritten.
    await withConfigLock(configPath, true, async () => {
      const fresh = await loadConfigFile(configPath);
      if (fresh) Object.assign(cfg, fresh);
      boot = bootstrapConfig(cfg, bootOpts);
      if (boot.changed || !fresh) await saveConfigFile(configPath, cfg);
      persisted = true;
    });
  } catch (err) {
    if (err instanceof ConfigError) throw err; // the file turned bad meanwhile: stop, untouched
    boot ??= bootstrapConfig(cfg, bootOpts);
    log.warn(`WARNING: could not persist config to ${configPath}: ${(err as Error).message}`);
    log.warn("WARNING: tokens exist only in memory until the config can be written");
  }
  if (!boot) throw new Error("unreachable: bootstrap did not run");
  if (boot.generatedOwnerToken) {
    print(
      [
        "",
        "============================================================",
        "  telahubd: authentication bootstrapped (first start)",
        "",
        `  Owner token: ${boot.generatedOwnerToken}`,
        "",
        "  Save this token now: this banner appears on first start only.",
        "  Agents register with it (telad -token <token>), clients log in",
        "  with it (tela login <hub-url>).",
        ...(persisted
          ? [
            `  Persisted to: ${configPath}`,
            `  Show it again with: telahubd user show-owner -config ${configPath}`,
          ]
          : [
            `  NOT persisted: ${configPath} could not be written (see the warnings).`,
            "  The token lives in memory only until this hub stops.",
          ]),
        "============================================================",
        "",
      ].join("\n"),
    );
  } else if (boot.ownerFromEnv) {
    log.info("auth bootstrapped from TELA_OWNER_TOKEN");
  }
  const history = new History(
    join(configDir(configPath), "telahubd.history.json"),
    undefined,
    join(configDir(configPath), "telahubd.audit.json"),
  );
  await history.load();

  // The one writer of telahubd.yaml from here on; it also picks up `telahubd user` edits.
  const store = await FileAccessStore.open({ path: configPath, config: cfg, history });
  const auth = () => store.auth();
  if (!auth().enabled) {
    log.warn("WARNING: running in OPEN mode: no authentication (asked for with -open)");
  }

  const udp = new UdpRelay();
  let udpPort = settings.udpPort;
  let udpBound = false;
  try {
    udpPort = udp.start(settings.listen, settings.udpPort);
    udpBound = true;
  } catch (err) {
    log.warn(`UDP relay disabled: cannot bind udp :${settings.udpPort}: ${(err as Error).message}`);
  }

  const hub = new Hub({
    auth,
    history,
    hubId: cfg.hubId!,
    hubName: settings.name,
    udpPort,
    udpHost: settings.udpHost,
    udp: udpBound ? udp : undefined,
    defaultUpdate: cfg.update && (cfg.update.channel || cfg.update.sources)
      ? { Channel: cfg.update.channel ?? "", Sources: cfg.update.sources ?? null }
      : undefined,
    firstMessageTimeoutMs: knobs.firstMsg,
    wsIdleTimeoutS: knobs.idle,
    offlineRetentionMs: opts.offlineRetentionMs,
    maxMachines: knobs.maxMachines,
    bridges: validateBridges(configPath, cfg.bridges),
    claimRegistrant: (machine, id) => {
      try {
        store.claimRegistrant(machine, id);
      } catch (err) {
        log.warn(
          `cannot record ${escapeForLog(id)} as the registrant of ${escapeForLog(machine)}: ${
            (err as Error).message
          }`,
        );
      }
    },
  });

  // Every change of access (API, pairing, an edit of the file, an expiry) re-checks the live
  // connections and cuts those that lost their right (issue 10 decision 1).
  store.onChange(() => hub.enforceAccess());
  hub.enforceAccess();

  // The console viewer token goes to every portal holding a sync token 2 s after start and
  // whenever it changes, however it changed: an API rotate, a `telahubd user` edit, a removal
  // that lets another viewer take over (spec §11).
  let viewerSynced = auth().viewerToken;
  // With TELAHUBD_PUBLIC_URL, every sync also announces the hub's current public URL.
  const announced = publicUrlFromEnv(env);
  const pushViewer = () =>
    void syncViewerToken(store.portals(), settings.name, viewerSynced, announced);
  const viewerSyncTimer = setTimeout(pushViewer, VIEWER_SYNC_DELAY_MS);
  // TELAHUBD_PORTAL_URL: a one-shot registration as "default" when no portal is configured
  // (spec §10.2, §10.4 step 10, §11). In the background: a slow portal does not delay start.
  void portalEnvBootstrap(
    { portals: store.portals(), hubId: cfg.hubId },
    settings.name,
    auth().viewerToken,
    (name, entry) => store.setPortal(name, entry, { id: "env:TELAHUBD_PORTAL_URL", via: "cli" }),
    env,
  ).catch((err) => log.warn(`portal registration: ${(err as Error).message}`));
  Deno.unrefTimer(viewerSyncTimer);
  store.onChange(() => {
    const token = auth().viewerToken;
    if (token === viewerSynced) return;
    viewerSynced = token;
    pushViewer();
  });

  // The console handler is rebuilt if the viewer token changes.
  let cached: { token?: string; handler: ReturnType<typeof consoleHandler> } | undefined;
  const consoleServe = (req: Request) => {
    const token = auth().viewerToken;
    if (!cached || cached.token !== token) {
      cached = {
        token,
        handler: consoleHandler({
          viewerToken: token,
          hubName: settings.name,
          wwwDir: settings.wwwDir || undefined,
          hubVersion: HUB_VERSION,
        }),
      };
    }
    return cached.handler(req);
  };

  // Live pairing codes survive a restart (they may be handed out for up to 7 days).
  const pairing = new PairingCodes({ file: join(configDir(configPath), PAIRING_FILE) });
  await pairing.load();
  pairing.start();
  const startedAt = performance.now();
  const handler = makeHttpHandler({
    hub,
    auth,
    store,
    history,
    hubId: cfg.hubId!,
    hubName: settings.name,
    startedAt,
    console: consoleServe,
    statusMaxAgeMs: opts.statusMaxAgeMs,
    mgmtTimeoutMs: opts.mgmtTimeoutMs,
    upgradeWebSocket: (req, o) => server.upgradeWebSocket(req, o),
    pairing,
    logs,
    restart: opts.restart,
  });
  const server: FrontEnd = startFrontEnd({
    hostname: settings.listen,
    port: settings.port,
    listener,
    handler,
    headerTimeoutMs: knobs.headerTimeout,
    maxUnauthenticated: knobs.maxUnauth,
  });
  const port = server.addr.port;
  // `:PORT` means every address, as Go prints it; a -listen address stands before the colon.
  const host = settings.listen === "0.0.0.0"
    ? ""
    : settings.listen.includes(":")
    ? `[${settings.listen}]`
    : settings.listen;
  log.info(
    `telahubd listening on ${host}:${port} (udp relay :${udpPort}${udpBound ? "" : " unbound"})`,
  );
  log.info(
    `hub ${escapeForLog(settings.name) || "(unnamed)"} id ${cfg.hubId} config ${configPath}` +
      ` listen ${settings.listen}`,
  );

  let stopping: Promise<void> | undefined;
  const running: RunningHub = {
    listen: settings.listen,
    port,
    udpPort,
    udpBound,
    configPath,
    config: cfg,
    settings,
    hub,
    history,
    store,
    udp: udpBound ? udp : undefined,
    pairing,
    logs,
    shutdown(graceMs = settings.shutdownTimeoutMs) {
      stopping ??= (async () => {
        log.info(`shutting down (drain up to ${graceMs} ms)`);
        clearTimeout(viewerSyncTimer);
        pairing.stop();
        hub.closeAll();
        udp.close();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        });
        // Let the close handshakes finish (our 1001 reason reaches the peers) before
        // the front end drops whatever is left.
        const closed = (async () => {
          for (let i = 0; i < 100 && hub.peerCount > 0; i++) {
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
        await Promise.race([closed, timeout]);
        clearTimeout(timer);
        await server.shutdown(graceMs);
        await store.close();
        await pairing.flush();
        await history.flush();
        logs.detach();
      })();
      return stopping;
    },
  };
  return running;
}
