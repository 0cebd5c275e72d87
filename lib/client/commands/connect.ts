/**
 * `tela connect` (book, Appendix A; spec agent-and-client.md §9-§10): one machine from
 * flags, or every connection of a profile, until Ctrl-C.
 * @module
 */
import { command, intSetting, transportFlags, UsageError } from "../../cli/mod.ts";
import { escapeForLog, logger, setLogLevel } from "../../log/mod.ts";
import { DEFAULT_MOUNT_PORT, runMount, validateMountPoint } from "../mount.ts";
import {
  DEFAULT_MTU,
  DEFAULT_STUN_SERVER,
  describeTransportSettings,
  MAX_MTU,
  MIN_MTU,
  sleep,
  type TransportSettings,
} from "../../session/mod.ts";
import { lookupStoredToken, resolveClientToken } from "../../host/mod.ts";
import { AccessEndedError, MachineConnection } from "../connection.ts";
import { HubResolveError, resolveHubUrl } from "../hubs.ts";
import { ConfigError } from "../../config/mod.ts";
import { formatServicesBlock, parseClientPorts, type PortMapping } from "../ports.ts";
import { loadProfile, type ProfileConnection } from "../profile.ts";
import { ControlServer } from "../control/server.ts";
import type { Logger } from "../../log/mod.ts";
import {
  env,
  HUB_FLAG,
  MACHINE_FLAG,
  signalPromise,
  type TelaDeps,
  TOKEN_FLAG,
  VERBOSE_FLAG,
} from "./shared.ts";

const CONNECT_FLAGS = {
  hub: HUB_FLAG,
  machine: MACHINE_FLAG,
  token: TOKEN_FLAG,
  ports: {
    type: "string",
    arg: "spec",
    usage: "Comma-separated ports or local:remote pairs, e.g. 22,2222:22",
  },
  services: {
    type: "string",
    arg: "names",
    usage: "Comma-separated service names (resolved via the hub API)",
  },
  profile: {
    type: "string",
    arg: "name",
    usage: "Connection profile name or path (env TELA_PROFILE)",
  },
  port: { type: "number", usage: "Legacy: local port" },
  "target-port": { type: "number", usage: "Legacy: remote port (default: -port)" },
  mtu: {
    type: "number",
    usage: `WireGuard tunnel MTU, ${MIN_MTU}-${MAX_MTU} (env TELA_MTU). Default: ${DEFAULT_MTU}`,
  },
  transport: {
    type: "string",
    arg: "mode",
    usage: "Highest transport this side sends on: auto (direct, then UDP relay, then " +
      "WebSocket), udp (no direct path) or websocket. Caps only this side's sending path; " +
      "the other side chooses its own (env TELA_TRANSPORT). Default: auto",
  },
  stun: {
    type: "string",
    arg: "servers",
    usage: `STUN servers for the direct path, host:port[,host:port], or none (env ` +
      `TELA_STUN_SERVERS). ` +
      `Default: ${DEFAULT_STUN_SERVER}`,
  },
  v: VERBOSE_FLAG,
} as const;

/**
 * Every connection of a profile gave up (e.g. the hub rejected the token everywhere), so
 * nothing is left running. Exit status 1.
 */
export class ProfileStoppedError extends Error {
  override name = "ProfileStoppedError";
}

/**
 * `tela connect` (book, Appendix A; *First connection*): one machine
 * (`-hub -machine [-ports|-services]`) or every connection of a profile (`-profile`), until
 * Ctrl-C. Its `run` throws {@link UsageError} for missing or conflicting flags, a bad
 * `-ports` spec or `-hub` value (exit 2), `ConfigError` for a bad profile or a profile hub
 * that is not a ws:// or wss:// URL or known short name (exit 3), and `FatalConnectError`
 * when the hub refuses the token or a service name is unknown, {@link ProfileStoppedError}
 * when every profile connection stopped (exit 1). An unreachable hub (service names
 * included) is retried with backoff, not thrown.
 * @param deps the transport, the tunnel engine, output and the Ctrl-C signal.
 */
export function connectCommand(deps: TelaDeps) {
  return command({
    name: "connect",
    summary: "Connect to a machine through a hub and bind local ports to its services.",
    usage: [
      "tela connect -hub <hub> -machine <machine> [flags]",
      "tela connect -profile <name>",
    ],
    description: `Opens a WireGuard tunnel to the machine through the hub and listens on local
ports for its services; prints "Services available:" with the local address of each. Without
-ports or -services every port the agent advertises is forwarded. With -profile, opens every
connection of the profile (~/.tela/profiles/<name>.yaml) in parallel. Runs until Ctrl-C and
reconnects with backoff when the hub or agent goes away. Logs go to stderr.

Each session starts on the hub's WebSocket relay, moves to the hub's UDP relay when that
answers, and to a direct path when STUN and hole punching work; it falls back when a path
goes quiet. The log has one line per change, and "tela status" shows each session's
transport. -transport caps the tiers and -stun picks the STUN servers; in a profile,
transport: and stun: at the top apply to every connection, under a connection to that one.`,
    flags: CONNECT_FLAGS,
    examples: [
      "tela connect -hub owlsnest.parkscomputing.com -machine dev-vm",
      "tela connect -hub wss://hub.example.com -machine barn -ports 22,8080:80",
      "tela connect -profile home",
      "tela connect -hub wss://hub.example.com -machine barn -transport websocket",
    ],
    seeAlso: ["tela machines", "tela services", "tela profile", "tela login"],
    async run({ values, out, err }) {
      if (values.v) setLogLevel("debug");
      const log = logger("tela");
      const mtu = clientMtu(values.mtu);
      const transport = transportFlags(values.stun, values.transport, "TELA");
      const stopRequested = Promise.withResolvers<void>();
      const interrupted = Promise.race([
        deps.interrupted ?? signalPromise(),
        stopRequested.promise,
      ]);
      const profileArg = values.profile ?? env("TELA_PROFILE");
      if (profileArg) {
        return await connectProfile(
          profileArg,
          mtu,
          transport,
          deps,
          out,
          err,
          interrupted,
          stopRequested.resolve,
        );
      }

      const hubArg = values.hub ?? env("TELA_HUB");
      const machine = values.machine ?? env("TELA_MACHINE");
      if (!hubArg || !machine) {
        throw new UsageError(
          "-hub and -machine are required (or set TELA_HUB / TELA_MACHINE)",
        );
      }
      const mappings: PortMapping[] = [];
      if (values.port) {
        mappings.push({ local: values.port, remote: values["target-port"] || values.port });
      }
      if (values.ports) {
        try {
          mappings.push(...parseClientPorts(values.ports));
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      }
      const hub = await resolveHubUrl(hubArg);
      const token = await resolveClientToken(values.token, hub);
      // Names resolve through the hub in the connection's reconnect loop (spec §10.1).
      const serviceNames = (values.services ?? "").split(",").map((s) => s.trim())
        .filter(Boolean).map((name) => ({ name }));
      const described = describeTransportSettings(transport);
      if (described) log.info(described);
      const conn = new MachineConnection({
        hubUrl: hub,
        machine,
        token,
        mappings,
        serviceNames,
        mtu,
        transport,
        bind: deps.bind,
        engine: deps.engine,
        log,
        fatalFirstDenial: true,
        onBound: (bound, wanted) => out(formatServicesBlock(bound, wanted)),
      });
      conn.bindExplicit();
      const control = await startControl(() => [conn], log, "", stopRequested.resolve);
      const running = conn.run();
      const result = await Promise.race([
        running.then(() => "done" as const, (e: Error) => e),
        interrupted.then(() => "interrupted" as const),
      ]);
      conn.stop();
      await control?.close();
      if (result instanceof Error) throw result;
      log.info("shutting down");
      await Promise.race([running.catch(() => {}), sleep(2000)]);
      return 0;
    },
  });
}

/**
 * Starts the local control API (spec §13; issue 12: every `tela connect`, not only profile
 * mode) over the running connections. A failure to start it is a warning: the tunnels work
 * without it, only `tela files` and `tela mount` cannot reach them.
 * @param conns the connections now (read at each request).
 * @param onShutdown what `DELETE /` does.
 */
async function startControl(
  conns: () => MachineConnection[],
  log: Logger,
  profile: string,
  onShutdown: () => void,
): Promise<ControlServer | null> {
  const live = (machine: string) =>
    conns().filter((c) => c.opts.machine === machine && c.tunnelUp).at(-1);
  try {
    return await ControlServer.start({
      log,
      profile,
      onShutdown,
      services: () => conns().reduce((n, c) => n + c.listeners.length, 0),
      tunnels: {
        machines: () => [
          ...new Set(conns().filter((c) => c.tunnelUp).map((c) => c.opts.machine)),
        ],
        dial: (machine, port, timeoutMs) => {
          const c = live(machine);
          if (!c) {
            return Promise.reject(
              new Error(`no active tunnel for machine "${machine}" (is tela connect running?)`),
            );
          }
          return c.dial(port, timeoutMs);
        },
      },
    });
  } catch (err) {
    log.warn(
      `local control API not started: ${(err as Error).message} (tela files and tela mount ` +
        `cannot reach this connection; check that ~/.tela/run is writable)`,
    );
    return null;
  }
}

/** `-mtu`, else `TELA_MTU`, else the default; checked before anything is dialled. */
function clientMtu(flag: number | undefined): number {
  return intSetting({
    flag: "mtu",
    flagValue: flag,
    env: "TELA_MTU",
    min: MIN_MTU,
    max: MAX_MTU,
    what: "tunnel MTU",
    fallback: DEFAULT_MTU,
  });
}

/** The flag/environment settings, with a configuration file's filling the unset ones. */
function withFile(s: TransportSettings, file: TransportSettings | undefined): TransportSettings {
  const stunServers = s.stunServers ?? file?.stunServers;
  const maxTransport = s.maxTransport ?? file?.maxTransport;
  return {
    ...(stunServers !== undefined ? { stunServers } : {}),
    ...(maxTransport !== undefined ? { maxTransport } : {}),
  };
}

function mergeConnections(conns: (ProfileConnection & { url: string })[]) {
  const merged = new Map<string, ProfileConnection & { url: string }>();
  for (const c of conns) {
    const key = `${c.url}\n${c.machine}`;
    const m = merged.get(key);
    if (!m) merged.set(key, { ...c, services: c.services ? [...c.services] : undefined });
    else {
      if (c.services) m.services = [...(m.services ?? []), ...c.services];
      m.token ||= c.token;
      m.address ||= c.address;
    }
  }
  return [...merged.values()];
}

async function connectProfile(
  arg: string,
  flagMtu: number,
  flagTransport: TransportSettings,
  deps: TelaDeps,
  out: (t: string) => void,
  _err: (t: string) => void,
  interrupted: Promise<void>,
  requestStop: () => void,
): Promise<number> {
  const log = logger("tela");
  const { path, profile } = await loadProfile(arg);
  const mtu = profile.mtu && profile.mtu > 0 ? profile.mtu : flagMtu;
  // Flag or variable, else the connection's keys, else the profile's, else the defaults.
  const transportOf = (c: ProfileConnection) =>
    withFile(flagTransport, { ...profile.transport, ...c.transport });
  log.info(`loaded profile with ${profile.connections.length} connection(s)`);
  profile.connections.forEach((c, i) =>
    log.info(`  [${i + 1}] hub=${c.hub} machine=${c.machine} services=${c.services?.length ?? 0}`)
  );
  const resolved = [];
  for (const [i, c] of profile.connections.entries()) {
    // A profile's hub is configuration: a bad one is the file's error (exit 3), not usage.
    try {
      resolved.push({
        ...c,
        url: await resolveHubUrl(c.hub, undefined, `connection ${i + 1} hub`),
      });
    } catch (e) {
      if (e instanceof HubResolveError) throw new ConfigError(path, e.message);
      throw e;
    }
  }
  const conns = mergeConnections(resolved);
  if (conns.length !== resolved.length) log.info(`merged to ${conns.length} unique connection(s)`);
  const multi = conns.length > 1;
  const running: {
    conn: MachineConnection;
    key: string;
    machine: string;
    tag: ReturnType<typeof logger>;
    done: boolean;
  }[] = [];
  /** `url\ntoken` pairs the hub declared dead: connections using them stop (issue 10). */
  const deadTokens = new Set<string>();
  let fatal = 0;
  const control = await startControl(
    () => running.map((r) => r.conn),
    log,
    profile.name ?? "",
    requestStop,
  );
  const mountStop = Promise.withResolvers<void>();
  const mountTask = profile.mount?.auto && profile.mount.mount
    ? autoMount(profile.mount.mount, profile.mount.port, mountStop.promise)
    : Promise.resolve();
  const tasks = conns.map(async (c, i) => {
    const tag = logger(`profile:${i + 1}`);
    const token = c.token || await lookupStoredToken(c.url);
    const mappings: PortMapping[] = [];
    for (const s of c.services ?? []) {
      if (!s.name && s.remote) mappings.push({ local: s.local ?? s.remote, remote: s.remote });
    }
    // Service names resolve through the hub in the connection's reconnect loop (spec §10.3).
    const serviceNames = (c.services ?? []).filter((s) => s.name).map((s) => ({
      name: s.name!,
      local: s.local,
    }));
    const key = `${c.url}\n${token ?? ""}`;
    if (deadTokens.has(key)) {
      fatal++;
      tag.error(`not connecting to "${c.machine}": the hub no longer accepts its token`);
      return;
    }
    tag.info(`connecting to ${c.url} → ${c.machine}`);
    const transport = transportOf(c);
    const described = describeTransportSettings(transport);
    if (described) tag.info(described);
    const conn = new MachineConnection({
      hubUrl: c.url,
      machine: c.machine,
      token,
      mappings,
      serviceNames,
      mtu,
      transport,
      address: c.address,
      bind: deps.bind,
      engine: deps.engine,
      log: tag,
      onBound: (bound, wanted) =>
        out(
          formatServicesBlock(
            bound.map((b) => ({ ...b, machine: multi ? c.machine : undefined })),
            wanted,
          ),
        ),
    });
    const entry = { conn, key, machine: c.machine, tag, done: false };
    running.push(entry);
    conn.bindExplicit();
    try {
      await conn.run().finally(() => (entry.done = true));
      // Stopped because a sibling's token died (below), not by Ctrl-C: it gave up too.
      if (deadTokens.has(key)) fatal++;
    } catch (e) {
      fatal++;
      conn.stop(); // its local listeners close: nothing will serve them any more
      tag.error(`${(e as Error).message}`);
      if (!(e instanceof AccessEndedError)) tag.error(`fatal error, stopping`);
      // The token itself is dead: every connection using it on this hub stops retrying it.
      if (e instanceof AccessEndedError && e.scope === "token") {
        deadTokens.add(key);
        for (const o of running) {
          if (o.done || o.key !== key) continue;
          o.tag.error(
            `stopping the connection to "${o.machine}": same token as "${c.machine}", ` +
              `which the hub no longer accepts`,
          );
          o.conn.stop();
        }
      }
    }
  });
  const stopped = await Promise.race([
    Promise.all(tasks).then(() => false),
    interrupted.then(() => true),
  ]);
  log.info("shutting down all connections");
  mountStop.resolve();
  await mountTask;
  for (const c of running) c.conn.stop();
  await control?.close();
  await Promise.race([Promise.all(tasks), sleep(2000)]);
  // Every connection gave up (e.g. `Invalid token` everywhere): nothing is left running.
  if (!stopped && fatal > 0) {
    throw new ProfileStoppedError(
      `every connection of profile "${profile.name}" stopped (see the log above)`,
    );
  }
  return 0;
}

/**
 * Profile `mount.auto` (spec agent-and-client.md §4.1): 2 s after start (or never, when `stop`
 * comes first) mounts the file shares of this process's tunnels at `mountPoint` through its own
 * control API, until `stop`. Failures are logged, never fatal to the connections.
 */
async function autoMount(mountPoint: string, port: number | undefined, stop: Promise<void>) {
  const log = logger("mount");
  const stopped = await Promise.race([sleep(2000).then(() => false), stop.then(() => true)]);
  if (stopped) return;
  try {
    await validateMountPoint(mountPoint);
  } catch (e) {
    log.warn(`skipping auto-mount "${escapeForLog(mountPoint)}": ${(e as Error).message}`);
    return;
  }
  const p = port || DEFAULT_MOUNT_PORT;
  log.info(`auto-starting mount: ${escapeForLog(mountPoint)} (port ${p})`);
  try {
    await runMount({ port: p, mountPoint, stop, log });
  } catch (e) {
    log.error(`auto-mount "${escapeForLog(mountPoint)}" failed: ${(e as Error).message}`);
  }
}
