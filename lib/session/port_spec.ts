/**
 * Port specs both ends read: a port number, and telad's `-ports` service list
 * `port[:name[:description]]` (book, *Run an agent*, Appendix A; spec agent-and-client.md
 * §8.4). The client's own `-ports` mappings are in lib/client/ports.ts.
 * @module
 */

/** A port spec that cannot be read; the message names the bad part. */
export class PortSpecError extends Error {
  override name = "PortSpecError";
}

/** One service the agent exposes (the `register`/`telad.yaml` shape). */
export interface ServiceSpec {
  port: number;
  proto?: string;
  name?: string;
  description?: string;
}

/**
 * Parses one port number (surrounding blanks ignored).
 * @returns the port, 1 to 65535.
 * @throws {PortSpecError} `"<s>" is not a valid port number`.
 */
export function parsePortNumber(s: string): number {
  const t = s.trim();
  const n = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new PortSpecError(`"${t}" is not a valid port number`);
  }
  return n;
}

/**
 * Parses telad's `-ports` (`"22:SSH,80:HTTP:web server"`): `port[:name[:description]]`,
 * comma separated. Invalid entries are reported through `onInvalid` and skipped.
 * @throws {PortSpecError} `no valid ports in: <spec>` when nothing valid remains.
 */
export function parseAgentPorts(
  spec: string,
  onInvalid: (part: string) => void = () => {},
): ServiceSpec[] {
  const out: ServiceSpec[] = [];
  for (const raw of spec.split(",")) {
    const part = raw.trim();
    if (!part) continue;
    const fields = part.split(":");
    const [p, name, ...rest] = fields;
    let port: number;
    try {
      port = parsePortNumber(p);
    } catch {
      onInvalid(part);
      continue;
    }
    const svc: ServiceSpec = { port, proto: "tcp" };
    if (name?.trim()) svc.name = name.trim();
    const description = rest.join(":").trim();
    if (description) svc.description = description;
    out.push(svc);
  }
  if (out.length === 0) throw new PortSpecError(`no valid ports in: ${spec}`);
  return out;
}
