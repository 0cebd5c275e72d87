/**
 * Port specs, well-known labels, local listener choice and the `Services available:`
 * block (book, *First connection*, Appendix A; spec agent-and-client.md §10.1-10.2,
 * session-and-relay.md §11).
 * @module
 */
import { parsePortNumber, PortSpecError } from "../session/port_spec.ts";

/** One client mapping: local port on 127.0.0.1 → remote port on the agent. */
export interface PortMapping {
  local: number;
  remote: number;
}

/**
 * Parses the client's `-ports` (`"22,2222:22"`): `p` means local p → remote p,
 * `l:r` local l → remote r.
 * @throws {PortSpecError} naming the bad part, e.g. `invalid remote port in "80:x": "x" is not a valid port number`.
 */
export function parseClientPorts(spec: string): PortMapping[] {
  const out: PortMapping[] = [];
  for (const raw of spec.split(",")) {
    const part = raw.trim();
    if (!part) continue;
    const i = part.indexOf(":");
    if (i >= 0) {
      let local: number, remote: number;
      try {
        local = parsePortNumber(part.slice(0, i));
      } catch (e) {
        throw new PortSpecError(`invalid local port in "${part}": ${(e as Error).message}`);
      }
      try {
        remote = parsePortNumber(part.slice(i + 1));
      } catch (e) {
        throw new PortSpecError(`invalid remote port in "${part}": ${(e as Error).message}`);
      }
      out.push({ local, remote });
    } else {
      try {
        const p = parsePortNumber(part);
        out.push({ local: p, remote: p });
      } catch (e) {
        throw new PortSpecError(`invalid port "${part}": ${(e as Error).message}`);
      }
    }
  }
  return out;
}

const WELL_KNOWN: Record<number, string> = {
  22: "SSH",
  80: "HTTP",
  443: "HTTPS",
  3389: "RDP",
  5900: "VNC",
  8080: "HTTP",
  8443: "HTTPS",
};

/** The client's label for a remote port: `SSH`, `HTTP`, … or `port <n>` (spec §11.3). */
export function portLabel(port: number): string {
  return WELL_KNOWN[port] ?? `port ${port}`;
}

/** Names the hub gives services an agent left unnamed (spec session-and-relay.md §11.3). */
const HUB_DEFAULT_NAMES: Record<number, string> = { 8080: "HTTP-Alt", 8443: "HTTPS-Alt" };

/**
 * The name an agent advertised for a service, as `/api/status` lists it; `undefined` when
 * the agent gave none (the hub then fills in its own label, which this recognises), so the
 * caller falls back to {@link portLabel}.
 */
export function advertisedName(s: { port: number; name?: string }): string | undefined {
  // Peer-supplied: control characters are shown escaped, never printed raw.
  const name = s.name?.trim().replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  if (!name) return undefined;
  if (name === `port ${s.port}` || name === HUB_DEFAULT_NAMES[s.port]) return undefined;
  return name;
}

/**
 * The local ports to try for a wanted port L: L, then L+10000, L+10001, … 65535
 * (never L+1 … L+9999; only L when L+10000 > 65535).
 */
export function* candidatePorts(wanted: number): Generator<number> {
  yield wanted;
  for (let p = wanted + 10000; p <= 65535; p++) yield p;
}

/** Why the wanted local port could not be bound: someone else has it, or it is privileged. */
export type BindRefusal = "in-use" | "privileged";

/** No local port could be bound for a mapping; the message names the address, the port, why and the fix. */
export class LocalListenError extends Error {
  override name = "LocalListenError";
}

/** Lowest port that needs no privileges on Linux by default (`ip_unprivileged_port_start`). */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** Human words for a refusal, naming `address:port` (for the Services block and SKIP lines). */
export function describeBindRefusal(address: string, port: number, why: BindRefusal): string {
  return why === "in-use"
    ? `${address}:${port} in use`
    : `${address}:${port} needs privileges (ports below ${FIRST_UNPRIVILEGED_PORT} need root ` +
      `or CAP_NET_BIND_SERVICE)`;
}

/**
 * Binds a TCP listener on `hostname` (default 127.0.0.1) at `wanted`, else at the next free
 * candidate ({@link candidatePorts}).
 * @returns the listener, the port it got, and why `wanted` was not used when it was not.
 * @throws {LocalListenError} when no candidate can be bound (`127.0.0.1:22 in use; no free port
 *   from 10022 to 65535 either`), or at once when the address itself cannot be
 *   used (not configured on this machine) or the error is neither "in use" nor "privileged".
 */
export function listenWithFallback(
  wanted: number,
  hostname = "127.0.0.1",
): { listener: Deno.TcpListener; port: number; refused?: BindRefusal } {
  let refused: BindRefusal | undefined;
  for (const port of candidatePorts(wanted)) {
    try {
      const listener = Deno.listen({ hostname, port, transport: "tcp" });
      return { listener, port, ...(refused ? { refused } : {}) };
    } catch (err) {
      const why = err instanceof Deno.errors.AddrInUse
        ? "in-use"
        : err instanceof Deno.errors.PermissionDenied
        ? "privileged"
        : undefined;
      if (why) {
        refused ??= why;
        continue;
      }
      if (err instanceof Deno.errors.AddrNotAvailable) {
        throw new LocalListenError(
          `could not bind ${hostname}:${port}: address ${hostname} is not available on this ` +
            `machine (on macOS add it first: sudo ifconfig lo0 alias ${hostname}; or remove ` +
            `'address:' from the profile to use 127.0.0.1)`,
        );
      }
      throw new LocalListenError(`could not bind ${hostname}:${port}: ${(err as Error).message}`);
    }
  }
  const first = describeBindRefusal(hostname, wanted, refused ?? "in-use");
  throw new LocalListenError(
    wanted + 10000 <= 65535
      ? `${first}; no free port from ${wanted + 10000} to 65535 either`
      : `${first}; choose another local port (e.g. -ports <local>:<remote>, or 'local:' in a profile)`,
  );
}

/** One line of the Services block. */
export interface BoundService {
  /** The port actually bound. */
  localPort: number;
  /** The agent-side port. */
  remotePort: number;
  /** Shown in parentheses when several machines share one block. */
  machine?: string;
  /** The loopback address bound; absent: 127.0.0.1, shown as `localhost`. */
  address?: string;
  /** The service name the agent advertises; absent: the well-known label ({@link portLabel}). */
  name?: string;
  /** Why the wanted port was not used (with `wanted` of {@link formatServicesBlock}). */
  refused?: BindRefusal;
}

/**
 * Formats the block the client prints once its listeners are bound, in Go's layout
 * (book, *First connection*; spec agent-and-client.md §10.2: the port left-aligned in
 * 5 columns, then ` → <service name>`), the name being the one the agent advertises, else
 * the well-known label of the remote port:
 * ```
 * Services available:
 *   localhost:5432  → postgres
 *   localhost:10022 → SSH (127.0.0.1:22 in use, moved to 10022)
 * ```
 * A port bound elsewhere than the wanted one says why (in use, or privileged) and where it
 * went, naming the local address and port that could not be had (Go names the remote
 * port, which misleads when a local override such as `-ports 2222:22` is the busy one). In
 * a profile with several machines each line also names its machine. A listener on another
 * loopback address than 127.0.0.1 (a profile's `address:`) shows that address.
 * @param services in the order they were bound.
 * @param wanted optional: the local port each one asked for (same order).
 */
export function formatServicesBlock(services: BoundService[], wanted?: number[]): string {
  const lines = ["Services available:"];
  services.forEach((s, i) => {
    const notes: string[] = [];
    if (s.machine) notes.push(s.machine);
    const address = s.address ?? "127.0.0.1";
    if (wanted && wanted[i] !== undefined && wanted[i] !== s.localPort) {
      const why = describeBindRefusal(address, wanted[i], s.refused ?? "in-use");
      notes.push(`${why}, moved to ${s.localPort}`);
    }
    const host = address === "127.0.0.1" ? "localhost" : address;
    const label = s.name ?? portLabel(s.remotePort);
    const line = `  ${host}:${String(s.localPort).padEnd(5)} → ${label}`;
    lines.push(notes.length ? `${line} (${notes.join(", ")})` : line);
  });
  return lines.join("\n");
}
