/**
 * Limits on what an agent may register (issue 9, hub hardening). Go's hub stores every
 * `register` field verbatim and `/api/status` echoes it, so one registration with
 * `capabilities` nested thousands of levels deep made every later status request fail.
 * These limits are far above what telad sends (spec agent-and-client.md §2.10: capabilities
 * nest four levels) and bound the cost of storing and serving a machine entry.
 *
 * @module
 */
import type { RegisterMessage } from "../protocol/mod.ts";
import { RegistrationError } from "./errors.ts";

/** Longest `machineName`, `agentId` or `machineRegistrationId`, in characters. */
export const MAX_ID_LENGTH = 128;
/** Longest descriptive field (`displayName`, `hostname`, `os`, ...), in characters. */
export const MAX_TEXT_LENGTH = 256;
/** Most `tags`. */
export const MAX_TAGS = 32;
/** Longest tag, in characters. */
export const MAX_TAG_LENGTH = 64;
/** Most entries in `services` and in `ports`. */
export const MAX_SERVICES = 256;
/** Longest service `name`, in characters. */
export const MAX_SERVICE_NAME_LENGTH = 64;
/** Longest service `description`, in characters. */
export const MAX_SERVICE_DESCRIPTION_LENGTH = 256;
/** Deepest nesting of objects and arrays in `capabilities` (the object itself is depth 1). */
export const MAX_CAPABILITIES_DEPTH = 8;
/** Most values (objects, arrays, scalars) in `capabilities`. */
export const MAX_CAPABILITIES_NODES = 2048;
/** Largest `capabilities` as JSON, in UTF-16 code units. */
export const MAX_CAPABILITIES_BYTES = 32 * 1024;

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function text(field: string, v: string | undefined, max: number): void {
  if (v === undefined) return;
  if (v.length > max) {
    throw new RegistrationError(field, `is ${v.length} characters; the limit is ${max}`);
  }
  if (CONTROL.test(v)) throw new RegistrationError(field, "contains control characters");
}

function port(field: string, v: number): void {
  if (!(v >= 0 && v <= 65535)) throw new RegistrationError(field, `${v} is not a port (0-65535)`);
}

/**
 * Walks `capabilities` without recursion (so the walk itself cannot overflow the stack).
 * @throws {RegistrationError} when it is too deep, has too many values, or is too large.
 */
function checkCapabilities(caps: Record<string, unknown>): void {
  const stack: Array<[unknown, number]> = [[caps, 1]];
  let nodes = 0;
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (++nodes > MAX_CAPABILITIES_NODES) {
      throw new RegistrationError(
        "capabilities",
        `has more than ${MAX_CAPABILITIES_NODES} values`,
      );
    }
    if (v === null || typeof v !== "object") continue;
    if (depth > MAX_CAPABILITIES_DEPTH) {
      throw new RegistrationError(
        "capabilities",
        `nests deeper than ${MAX_CAPABILITIES_DEPTH} levels`,
      );
    }
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const c of children) stack.push([c, depth + 1]);
  }
  const size = JSON.stringify(caps).length;
  if (size > MAX_CAPABILITIES_BYTES) {
    throw new RegistrationError(
      "capabilities",
      `is ${size} bytes of JSON; the limit is ${MAX_CAPABILITIES_BYTES}`,
    );
  }
}

/**
 * Checks a decoded `register` message against the hub's limits (types were checked by
 * `decodeSignal`).
 * @throws {RegistrationError} naming the field and the limit it broke.
 */
export function validateRegistration(m: RegisterMessage): void {
  text("machineName", m.machineName, MAX_ID_LENGTH);
  text("agentId", m.agentId, MAX_ID_LENGTH);
  text("machineRegistrationId", m.machineRegistrationId, MAX_ID_LENGTH);
  for (
    const f of ["displayName", "hostname", "os", "agentVersion", "location", "owner"] as const
  ) {
    text(f, m[f], MAX_TEXT_LENGTH);
  }
  text("token", m.token, MAX_TEXT_LENGTH);
  if (m.tags) {
    if (m.tags.length > MAX_TAGS) {
      throw new RegistrationError("tags", `has ${m.tags.length} entries; the limit is ${MAX_TAGS}`);
    }
    m.tags.forEach((t, i) => text(`tags[${i}]`, t, MAX_TAG_LENGTH));
  }
  if (m.ports) {
    if (m.ports.length > MAX_SERVICES) {
      throw new RegistrationError(
        "ports",
        `has ${m.ports.length} entries; the limit is ${MAX_SERVICES}`,
      );
    }
    m.ports.forEach((p, i) => port(`ports[${i}]`, p));
  }
  if (m.services) {
    if (m.services.length > MAX_SERVICES) {
      throw new RegistrationError(
        "services",
        `has ${m.services.length} entries; the limit is ${MAX_SERVICES}`,
      );
    }
    m.services.forEach((s, i) => {
      port(`services[${i}].port`, s.port);
      text(`services[${i}].proto`, s.proto, 16);
      text(`services[${i}].name`, s.name, MAX_SERVICE_NAME_LENGTH);
      text(`services[${i}].description`, s.description, MAX_SERVICE_DESCRIPTION_LENGTH);
    });
  }
  if (m.capabilities) checkCapabilities(m.capabilities);
}
