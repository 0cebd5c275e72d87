/**
 * Hub-mediated management requests (spec session-and-relay.md §2.14, §2.15, §3.8;
 * hub-http-api.md §8): a `mgmt-request` goes down an agent's control socket and the
 * matching `mgmt-response` comes back verbatim. The HTTP side: lib/hub/api/admin/agents.ts.
 *
 * @module
 */
import { randomHex } from "../protocol/mod.ts";
import type { Machine, Registry } from "./registry.ts";
import type { HubSocket } from "./socket.ts";

/** Mgmt request timeout, ms (spec §2.15). */
export const MGMT_TIMEOUT_MS = 30_000;

/** An HTTP status and the body to send for a mgmt request. */
export interface MgmtResult {
  /** 200 with the agent's answer; 404 unknown machine, 503 agent offline, 504 timeout. */
  status: number;
  /** The agent's `mgmt-response` message verbatim, or a JSON error of the hub. */
  body: string;
}

interface Pending {
  machine: Machine;
  resolve: (r: MgmtResult) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Outstanding mgmt requests by request id. */
export class Management {
  readonly #pending = new Map<string, Pending>();

  /** @param registry where machines (and their control sockets) are looked up. */
  constructor(readonly registry: Registry) {}

  /**
   * Sends `mgmt-request` to a machine's agent and waits for its `mgmt-response`.
   * @param timeoutMs give up after this long, ms.
   * @returns HTTP status and body: 200 with the raw response JSON verbatim, 404 unknown
   *   machine, 503 agent not connected, 502 write failure, 504 after the timeout.
   */
  request(
    machineName: string,
    action: string,
    payload?: unknown,
    timeoutMs = MGMT_TIMEOUT_MS,
  ): Promise<MgmtResult> {
    const entry = this.registry.byName(machineName);
    if (!entry) return Promise.resolve({ status: 404, body: '{"error":"machine not found"}\n' });
    const control = entry.control;
    if (!control) {
      return Promise.resolve({ status: 503, body: '{"error":"agent not connected"}\n' });
    }
    const requestId = randomHex(8);
    const msg: Record<string, unknown> = { action };
    if (payload !== undefined) msg.payload = payload;
    msg.requestId = requestId;
    msg.type = "mgmt-request";
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        resolve({ status: 504, body: '{"error":"agent did not respond within 30 seconds"}\n' });
      }, timeoutMs);
      this.#pending.set(requestId, { machine: entry, resolve, timer });
      try {
        control.ws.send(JSON.stringify(msg));
      } catch {
        clearTimeout(timer);
        this.#pending.delete(requestId);
        resolve({ status: 502, body: '{"error":"failed to send to agent"}\n' });
      }
    });
  }

  /** Completes the request `requestId` with `raw` when it came from the machine asked. */
  onResponse(from: HubSocket, requestId: string, raw: string): void {
    const w = this.#pending.get(requestId);
    if (!w || w.machine !== from.machine) return;
    clearTimeout(w.timer);
    this.#pending.delete(requestId);
    w.resolve({ status: 200, body: raw });
  }

  /** Fails every request waiting on `machine` with 503 (its agent disconnected). */
  failMachine(machine: Machine): void {
    for (const [rid, w] of this.#pending) {
      if (w.machine === machine) {
        clearTimeout(w.timer);
        this.#pending.delete(rid);
        w.resolve({ status: 503, body: '{"error":"agent disconnected"}\n' });
      }
    }
  }
}
