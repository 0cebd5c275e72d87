/**
 * Service normalisation and labels as the Go hub shows them in `/api/status` and
 * history (spec session-and-relay.md §11.3, hub-http-api.md §4.1).
 * @module
 */
import type { ServiceDescriptor } from "../protocol/mod.ts";

/** A service as `/api/status` lists it (all four keys always present). */
export interface Service {
  port: number;
  proto: string;
  name: string;
  description: string;
}

const LABELS: Record<number, string> = {
  22: "SSH",
  80: "HTTP",
  443: "HTTPS",
  3389: "RDP",
  5900: "VNC",
  8080: "HTTP-Alt",
  8443: "HTTPS-Alt",
};

/** The hub's label for a port: `SSH`, `HTTP-Alt`, ... or `port <n>`. */
export function portLabel(port: number): string {
  return LABELS[port] ?? `port ${port}`;
}

/**
 * Normalises what an agent advertised: a non-empty `services` list wins (port 0
 * dropped, proto lower-cased defaulting to `tcp`, empty name → label); otherwise
 * each of `ports` becomes a tcp service named by its label.
 */
export function normaliseServices(services?: ServiceDescriptor[], ports?: number[]): Service[] {
  if (services && services.length > 0) {
    return services.filter((s) => s.port !== 0).map((s) => ({
      port: s.port,
      proto: (s.proto ?? "").toLowerCase() || "tcp",
      name: s.name || portLabel(s.port),
      description: s.description ?? "",
    }));
  }
  return (ports ?? []).filter((p) => p !== 0).map((p) => ({
    port: p,
    proto: "tcp",
    name: portLabel(p),
    description: "",
  }));
}

/** History detail of `agent-register`: `ports=[22 3389]`. */
export function portsDetail(services: Service[]): string {
  return `ports=[${services.map((s) => s.port).join(" ")}]`;
}

/**
 * History detail of a session: `services=SSH:22,RDP:3389`, limited to the ports
 * the client asked for (all services when it asked for none); `""` when empty.
 */
export function sessionDetail(services: Service[], requested?: number[]): string {
  const chosen = requested && requested.length
    ? services.filter((s) => requested.includes(s.port))
    : services;
  if (chosen.length === 0) return "";
  return "services=" + chosen.map((s) => `${s.name}:${s.port}`).join(",");
}

/**
 * True when a per-service connect filter (spec §14.1; issue 10 decision 3) names `s`: by its
 * name, or as `port-<N>` (the name of an unnamed service; our hub labels those, so both forms
 * match).
 * @param filter service names from the grant.
 */
export function serviceAllowed(s: Service, filter: readonly string[]): boolean {
  return filter.includes(s.name) || filter.includes(`port-${s.port}`);
}

/** The ports of `services` a filter allows, ascending and unique. */
export function allowedPorts(services: Service[], filter: readonly string[]): number[] {
  return [...new Set(services.filter((s) => serviceAllowed(s, filter)).map((s) => s.port))]
    .sort((a, b) => a - b);
}
