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

/**
 * The local ports to try for a wanted port L: L, then L+10000, L+10001, … 65535
 * (never L+1 … L+9999; only L when L+10000 > 65535).
 */
export function* candidatePorts(wanted: number): Generator<number> {
  yield wanted;
  for (let p = wanted + 10000; p <= 65535; p++) yield p;
}

/** No local port could be bound for a mapping. */
export class LocalListenError extends Error {
  override name = "LocalListenError";
}

/**
 * Binds a TCP listener on 127.0.0.1 at `wanted`, else at the next free candidate.
 * @returns the listener and the port it got.
 * @throws {LocalListenError} `could not bind: no free port found starting at <wanted>`.
 */
export function listenWithFallback(
  wanted: number,
  hostname = "127.0.0.1",
): { listener: Deno.TcpListener; port: number } {
  for (const port of candidatePorts(wanted)) {
    try {
      const listener = Deno.listen({ hostname, port, transport: "tcp" });
      return { listener, port };
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse || err instanceof Deno.errors.PermissionDenied) {
        continue;
      }
      throw err;
    }
  }
  throw new LocalListenError(`could not bind: no free port found starting at ${wanted}`);
}

/** One line of the Services block. */
export interface BoundService {
  /** The port actually bound on 127.0.0.1. */
  localPort: number;
  /** The agent-side port. */
  remotePort: number;
  /** Shown in parentheses when several machines share one block. */
  machine?: string;
}

/**
 * Formats the block the client prints once its listeners are bound, in Go's layout
 * (book, *First connection*; spec agent-and-client.md §10.2: the port left-aligned in
 * 5 columns, then ` → <label of the remote port>`):
 * ```
 * Services available:
 *   localhost:22    → SSH
 *   localhost:10022 → SSH (port 22 in use, remapped)
 * ```
 * A port bound elsewhere than the wanted one says so, naming the local port that was
 * taken (Go names the remote port, which misleads when a local override such as
 * `-ports 2222:22` is the busy one; both agree in the common case local = remote). In a
 * profile with several machines each line also names its machine.
 * @param services in the order they were bound.
 * @param wanted optional: the local port each one asked for (same order).
 */
export function formatServicesBlock(services: BoundService[], wanted?: number[]): string {
  const lines = ["Services available:"];
  services.forEach((s, i) => {
    const notes: string[] = [];
    if (s.machine) notes.push(s.machine);
    if (wanted && wanted[i] !== undefined && wanted[i] !== s.localPort) {
      notes.push(`port ${wanted[i]} in use, remapped`);
    }
    const line = `  localhost:${String(s.localPort).padEnd(5)} → ${portLabel(s.remotePort)}`;
    lines.push(notes.length ? `${line} (${notes.join(", ")})` : line);
  });
  return lines.join("\n");
}
