/**
 * The application side of a TCP socket: web streams with backpressure both ways.
 *
 * Reading pulls from the socket's receive ring only when the reader asks (highWaterMark 0),
 * so an application that stops reading closes the TCP window. Writing resolves once the
 * chunk is copied into the send ring, and waits while the ring is full.
 * @module
 */
import {
  ConnectionAbortedError,
  type SocketEvents,
  type TcpSocket,
  TcpState,
} from "./tcp/socket.ts";
import { formatIpv4 } from "./wire/address.ts";
import { type Clock, systemClock } from "../clock/mod.ts";

/** An IPv4 endpoint. */
export interface TcpAddress {
  /** Dotted-quad IPv4 address. */
  address: string;
  port: number;
}

/** One TCP connection, as returned by `NetStack.dial` and `TcpListener.accept`. */
export interface TcpConn {
  /** Bytes from the peer; ends at the peer's FIN, errors on reset/timeout. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it sends FIN (half-close). */
  readonly writable: WritableStream<Uint8Array>;
  /** Sends FIN once everything written so far is queued (half-close, RFC 9293 3.6). */
  closeWrite(): Promise<void>;
  /** Half-closes, stops reading, and resolves once our FIN is acknowledged or the connection ends. */
  close(): Promise<void>;
  /** Resets the connection (RST) at once; pending reads and writes fail. */
  abort(): void;
  readonly localAddress: TcpAddress;
  readonly remoteAddress: TcpAddress;
}

/** Largest chunk handed to a reader, in octets. */
const READ_CHUNK = 64 * 1024;
/** Below this many readable octets a woken reader waits one event-loop turn for more. */
const READ_COALESCE = 16 * 1024;

/** A {@link TcpConn} over one {@link TcpSocket}. */
export class Connection implements TcpConn, SocketEvents {
  readonly socket: TcpSocket;
  private readonly clock: Pick<Clock, "setTimeout" | "nextTurn">;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly localAddress: TcpAddress;
  readonly remoteAddress: TcpAddress;
  /** Resolves when the handshake completes, rejects if it fails. */
  readonly established: Promise<this>;
  private resolveEstablished!: (c: this) => void;
  private rejectEstablished!: (e: Error) => void;
  private readWaiter: (() => void) | null = null;
  private writeWaiter: (() => void) | null = null;
  private finWaiters: (() => void)[] = [];
  private writeController: WritableStreamDefaultController | null = null;
  private writing: Promise<void> = Promise.resolve();
  private writeClosed = false;
  private ended = false;
  private endError: Error | null = null;
  /** Called once when the handshake completes (listener bookkeeping). */
  onOpen: (() => void) | null = null;
  /** Called once when the connection ends before or after opening. */
  onEnd: (() => void) | null = null;

  /**
   * @param socket the TCP socket this connection reads and writes.
   * @param localAddress our IPv4 address as a 32-bit number.
   * @param clock the stack's clock (the reader's one-turn wait uses its timer).
   */
  constructor(
    socket: TcpSocket,
    localAddress: number,
    clock: Pick<Clock, "setTimeout" | "nextTurn"> = systemClock,
  ) {
    this.socket = socket;
    this.clock = clock;
    socket.events = this;
    this.localAddress = { address: formatIpv4(localAddress), port: socket.localPort };
    this.remoteAddress = { address: formatIpv4(socket.remoteAddr), port: socket.remotePort };
    this.established = new Promise((res, rej) => {
      this.resolveEstablished = res;
      this.rejectEstablished = rej;
    });
    this.established.catch(() => {});
    this.readable = new ReadableStream<Uint8Array>({
      pull: (controller) => this.pull(controller),
      cancel: () => this.socket.shutdownRead(),
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.writeController = controller;
      },
      write: (chunk) => {
        const p = this.write(chunk);
        this.writing = p.catch(() => {});
        return p;
      },
      close: () => {
        this.writeClosed = true;
        this.socket.shutdownWrite();
      },
      abort: () => this.abort(),
    }, { highWaterMark: 1 });
  }

  private async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const s = this.socket;
    for (;;) {
      const n = s.readableLength;
      if (n > 0) {
        const chunk = new Uint8Array(Math.min(n, READ_CHUNK));
        s.read(chunk);
        controller.enqueue(chunk);
        return;
      }
      if (s.readEnded) {
        controller.close();
        return;
      }
      if (this.endError) {
        controller.error(this.endError);
        return;
      }
      if (this.ended) {
        controller.close();
        return;
      }
      await new Promise<void>((r) => (this.readWaiter = r));
      // Woken by a small amount of data: give the event loop one turn so the datagrams
      // already arriving are added before the reader takes them. On UDP paths each
      // 1100-octet packet otherwise became one read and one write (op_write) to the local
      // socket; bench/side_by_side.ts --transports udp.
      if (s.readableLength < READ_COALESCE && !s.readEnded && !this.ended) {
        await new Promise<void>((r) =>
          this.clock.nextTurn ? this.clock.nextTurn(r) : this.clock.setTimeout(r, 0)
        );
      }
    }
  }

  private async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.endError) throw this.endError;
      if (this.writeClosed || !this.socket.canSend() || this.socket.finQueued) {
        throw new ConnectionAbortedError("connection is closed for writing");
      }
      off += this.socket.write(chunk, off);
      if (off < chunk.length) await new Promise<void>((r) => (this.writeWaiter = r));
    }
  }

  // ---- SocketEvents
  onEstablished(): void {
    this.onOpen?.();
    this.resolveEstablished(this);
  }
  onReadable(): void {
    const w = this.readWaiter;
    this.readWaiter = null;
    w?.();
  }
  onWritable(): void {
    const w = this.writeWaiter;
    this.writeWaiter = null;
    w?.();
  }
  onFinAcked(): void {
    for (const w of this.finWaiters.splice(0)) w();
  }
  onClosed(error: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.endError = error;
    this.rejectEstablished(error ?? new ConnectionAbortedError("connection closed"));
    if (error) this.writeController?.error(error);
    this.onReadable();
    this.onWritable();
    this.onFinAcked();
    this.onEnd?.();
  }

  // ---- TcpConn
  async closeWrite(): Promise<void> {
    if (this.writeClosed) return;
    if (!this.writable.locked) {
      await this.writable.close().catch(() => {});
      return;
    }
    // Someone holds a writer (e.g. pipeTo): FIN after the write in progress.
    this.writeClosed = true;
    await this.writing;
    this.socket.shutdownWrite();
  }

  async close(): Promise<void> {
    await this.closeWrite();
    if (!this.readable.locked) await this.readable.cancel().catch(() => {});
    else this.socket.shutdownRead();
    const s = this.socket.state;
    if (
      this.ended || s === TcpState.FIN_WAIT_2 || s === TcpState.TIME_WAIT ||
      s === TcpState.CLOSED
    ) return;
    await new Promise<void>((r) => this.finWaiters.push(r));
  }

  abort(): void {
    this.socket.abort();
  }
}
