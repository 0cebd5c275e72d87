/**
 * In-memory Binds for tests and benchmarks: {@link memoryBindPair} links two devices
 * with a simulated wire that can drop, tamper with or record datagrams.
 * @module
 */
import type { Bind, BindEndpoint } from "./bind.ts";

/** Decides the fate of a datagram on the simulated wire. */
export type WireFilter = (datagram: Uint8Array, from: string) => Uint8Array | null;

/** One end of a simulated wire. Delivery is asynchronous (a microtask) and copies. */
export class MemoryBind implements Bind {
  /** This end's endpoint name ("a" or "b"). */
  readonly name: string;
  /** Optional filter applied to every datagram this end sends (null = drop). */
  filter: WireFilter | null = null;
  /** Every datagram this end sent (copies), when `record` is true. */
  readonly sent: Uint8Array[] = [];
  /** Whether to keep copies of sent datagrams in `sent`. */
  record = false;
  /** When true, delivery happens synchronously inside send (benchmarks). */
  synchronous = false;
  #receive: ((d: Uint8Array, from: BindEndpoint) => void) | null = null;
  /** The other end of the wire. */
  other: MemoryBind | null = null;
  #closed = false;

  /** Makes one end named `name` (its endpoint as seen by the other end). */
  constructor(name: string) {
    this.name = name;
  }

  /** Installs the receiver. */
  open(receive: (datagram: Uint8Array, from: BindEndpoint) => void): void {
    this.#receive = receive;
  }

  /** Puts a datagram on the wire (through `filter`) towards the other end. */
  send(datagram: Uint8Array, _to: BindEndpoint): void {
    if (this.#closed) return;
    let d: Uint8Array | null = datagram;
    if (this.record) this.sent.push(datagram.slice());
    if (this.filter !== null) d = this.filter(datagram, this.name);
    if (d === null) return;
    const peer = this.other;
    if (peer === null) return;
    if (this.synchronous) return peer.inject(d, this.name);
    const copy = d.slice();
    queueMicrotask(() => peer.inject(copy, this.name));
  }

  /** Delivers a datagram to this end's device as if it came from `from`. */
  inject(datagram: Uint8Array, from: BindEndpoint): void {
    if (!this.#closed) this.#receive?.(datagram, from);
  }

  /** The endpoint's name. */
  endpointString(endpoint: BindEndpoint): string {
    return String(endpoint);
  }

  /** Stops delivering. */
  close(): void {
    this.#closed = true;
  }
}

/** Two connected in-memory binds; each uses the other's name ("a"/"b") as endpoint. */
export function memoryBindPair(): [MemoryBind, MemoryBind] {
  const a = new MemoryBind("a");
  const b = new MemoryBind("b");
  a.other = b;
  b.other = a;
  return [a, b];
}
