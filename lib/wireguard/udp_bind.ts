/**
 * A {@link Bind} over a UDP socket (`Deno.listenDatagram`): direct UDP between peers,
 * and the transport for interoperating with other WireGuard implementations.
 * @module
 */
import type { Bind, BindEndpoint } from "./bind.ts";

/** A UDP endpoint as Deno reports it. */
export type UdpEndpoint = Deno.NetAddr;

/** Makes a UDP endpoint for {@link PeerOptions.endpoint}. */
export function udpEndpoint(hostname: string, port: number): UdpEndpoint {
  return { transport: "udp", hostname, port };
}

/** Options of {@link UdpBind}. */
export interface UdpBindOptions {
  /** Local address to listen on; default "0.0.0.0". */
  hostname?: string;
  /** Local UDP port; default 0 (ephemeral). */
  port?: number;
}

/** A {@link UdpBind} used out of order, or its socket could not be bound. */
export class UdpBindError extends Error {
  override name = "UdpBindError";
}

/** Direct UDP. The socket is opened by `open` (so by the Device constructor). */
export class UdpBind implements Bind {
  #opts: UdpBindOptions;
  #conn: Deno.DatagramConn | null = null;
  #closed = false;
  #recvBuffer = new Uint8Array(65536);
  /** Datagrams the OS refused to send. */
  sendErrors = 0;

  /** Prepares a bind listening per `opts`; the socket opens in `open`. */
  constructor(opts: UdpBindOptions = {}) {
    this.#opts = opts;
  }

  /**
   * The bound local address (after open).
   * @throws {UdpBindError} before `open`.
   */
  get localAddr(): UdpEndpoint {
    if (this.#conn === null) throw new UdpBindError("UdpBind: not open yet; call open() first");
    return this.#conn.addr as Deno.NetAddr;
  }

  /**
   * Binds the socket and starts the receive loop.
   * @throws {UdpBindError} naming the address when the socket cannot be bound (e.g. port
   *   in use), or when the bind is already open.
   */
  open(receive: (datagram: Uint8Array, from: BindEndpoint) => void): void {
    if (this.#conn !== null) throw new UdpBindError("UdpBind: already open; a bind opens once");
    const hostname = this.#opts.hostname ?? "0.0.0.0";
    const port = this.#opts.port ?? 0;
    try {
      this.#conn = Deno.listenDatagram({ transport: "udp", hostname, port });
    } catch (e) {
      throw new UdpBindError(
        `WireGuard UDP bind: cannot listen on ${hostname}:${port} (${(e as Error).message}); ` +
          "choose another port or 0 for an ephemeral one",
      );
    }
    this.#loop(this.#conn, receive);
  }

  async #loop(
    conn: Deno.DatagramConn,
    receive: (datagram: Uint8Array, from: BindEndpoint) => void,
  ): Promise<void> {
    while (!this.#closed) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await conn.receive(this.#recvBuffer);
      } catch {
        if (this.#closed) return;
        continue; // e.g. ICMP port unreachable surfacing as an error
      }
      receive(data, addr);
    }
  }

  /** Sends a datagram; the bytes are copied because the OS send completes later. */
  send(datagram: Uint8Array, to: BindEndpoint): void {
    const conn = this.#conn;
    if (conn === null || this.#closed) return;
    conn.send(datagram.slice(), to as Deno.NetAddr).catch(() => {
      this.sendErrors++;
    });
  }

  /** "host:port" of an endpoint. */
  endpointString(endpoint: BindEndpoint): string {
    const a = endpoint as Deno.NetAddr;
    return `${a.hostname}:${a.port}`;
  }

  /** Closes the socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn?.close();
    } catch {
      // already closed
    }
  }
}
