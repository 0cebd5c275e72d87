/**
 * One TCP connection: the RFC 9293 state machine (section 3.10 event processing) with
 * window scaling and timestamps (RFC 7323), SACK (RFC 2018) and SACK-based loss recovery
 * (RFC 6675), tail loss probes (RFC 8985 section 7), NewReno recovery without SACK
 * (RFC 6582), RTO (RFC 6298), congestion control
 * (RFC 5681 / RFC 9438), delayed ACKs, zero-window probing, RST/SYN/ACK validation
 * (RFC 5961) and keepalive.
 *
 * Sequence numbers are kept unwrapped (see `seq.ts`): SND.* count from ISS = 0 and RCV.*
 * from IRS = 0, so the SYN is sequence 0 and the first data octet is 1.
 * @module
 */
import type { Clock } from "../../clock/mod.ts";
import { formatIpv4 } from "../wire/address.ts";
import { optionsLength, TcpFlags, type TcpOptions, TcpRepr, type TcpSegment } from "../wire/tcp.ts";
import { Assembler } from "./assembler.ts";
import type { TcpConfig } from "./config.ts";
import { type CongestionControl, Cubic, NewReno } from "./congestion.ts";
import { RingBuffer } from "./ring.ts";
import { Scoreboard } from "./scoreboard.ts";
import { unwrap, wrap } from "./seq.ts";

/** Connection states, RFC 9293 3.3.2 (LISTEN lives in the listener, not here). */
export enum TcpState {
  CLOSED = "CLOSED",
  SYN_SENT = "SYN-SENT",
  SYN_RECEIVED = "SYN-RECEIVED",
  ESTABLISHED = "ESTABLISHED",
  FIN_WAIT_1 = "FIN-WAIT-1",
  FIN_WAIT_2 = "FIN-WAIT-2",
  CLOSE_WAIT = "CLOSE-WAIT",
  CLOSING = "CLOSING",
  LAST_ACK = "LAST-ACK",
  TIME_WAIT = "TIME-WAIT",
}

/** The peer refused the connection (RST in reply to our SYN). */
export class ConnectionRefusedError extends Error {
  override name = "ConnectionRefusedError";
}
/** The peer reset an established connection. */
export class ConnectionResetError extends Error {
  override name = "ConnectionResetError";
}
/** Retransmissions or keepalives went unanswered. */
export class ConnectionTimeoutError extends Error {
  override name = "ConnectionTimeoutError";
}
/** The connection was aborted locally (abort() or the stack closed). */
export class ConnectionAbortedError extends Error {
  override name = "ConnectionAbortedError";
}

/** Counters shared by all sockets of a stack. */
export interface TcpStats {
  segmentsSent: number;
  segmentsReceived: number;
  retransmits: number;
  fastRetransmits: number;
  /** Tail loss probes sent (RFC 8985 section 7). */
  tailLossProbes: number;
  /** Loss recoveries started by a tail loss probe's SACK instead of an RTO. */
  tlpRecoveries: number;
  /** Retransmissions found lost by SACKs of later data and sent again without an RTO. */
  lostRetransmits: number;
  timeouts: number;
  /**
   * Longest retransmission timeout armed so far, ms (the RTO after backoff, RFC 6298 5.5):
   * the longest a lost segment can have stalled a connection of this stack.
   */
  maxRtoMs: number;
  rstSent: number;
  rstReceived: number;
  challengeAcks: number;
  outOfOrder: number;
  dropped: number;
}

/** What a socket needs from its stack. */
export interface SocketHost {
  readonly clock: Clock;
  readonly config: TcpConfig;
  /**
   * Sends `segment` to `remoteAddr` (the stack wraps it in IPv4). The repr is read during
   * the call only, so the socket reuses one.
   */
  emit(remoteAddr: number, segment: TcpRepr): void;
  readonly stats: TcpStats;
  /** The socket reached CLOSED: forget it. */
  release(socket: TcpSocket): void;
  /** RFC 5961 section 7: a global budget of challenge ACKs. */
  allowChallengeAck(): boolean;
  /**
   * The largest IP packet the path carries now, in octets (at most `config.mtu`). Segments
   * are sized to it at the moment they are built (first sends and retransmissions alike),
   * so it may change during a connection (NetStackOptions.pathMtu).
   */
  pathMtu(): number;
}

/** Notifications to the connection object above (streams). */
export interface SocketEvents {
  onEstablished(): void;
  /** Data or end of stream is ready to read. */
  onReadable(): void;
  /** Send buffer space was freed. */
  onWritable(): void;
  /** Our FIN was acknowledged. */
  onFinAcked(): void;
  /** The connection is over: null after an orderly close, the error otherwise. */
  onClosed(error: Error | null): void;
}

const NO_EVENTS: SocketEvents = {
  onEstablished() {},
  onReadable() {},
  onWritable() {},
  onFinAcked() {},
  onClosed() {},
};

const DUP_THRESH = 3;
const NONE = Infinity;
/** In-order segments from which an owed ACK goes out at once, not at the turn's end. */
const TURN_ACK_MAX_SEGMENTS = 4;

/** One TCP connection (a TCB, RFC 9293 3.3.1). */
export class TcpSocket {
  state = TcpState.CLOSED;
  events: SocketEvents = NO_EVENTS;
  readonly host: SocketHost;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  /** True when we sent the first SYN (active open). */
  readonly active: boolean;

  // ---- negotiated options
  /** MSS we announce: MTU - 40. */
  readonly ourMss: number;
  /** Peer's announced MSS (536 if absent, RFC 9293 3.7.1). */
  peerMss = 536;
  tsOk = false;
  sackOk = false;
  /** Shift applied to windows the peer sends us (its announced scale). */
  sndWscale = 0;
  /** Shift applied to windows we send (our announced scale). */
  rcvWscale = 0;
  /** Whether the peer's SYN carried a window scale option (for our SYN-ACK). */
  private wsOffered = false;
  /** Data octets per full-sized segment we send (MSS minus fixed options). */
  smss = 536;

  // ---- send sequence space (unwrapped, ISS = 0)
  readonly iss: number;
  sndUna = 0;
  /** Highest sequence sent + 1 (RFC 6675's HighData + 1). */
  sndNxt = 0;
  /** SND.WND in octets (already scaled). */
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  readonly sendBuf: RingBuffer;
  /** Sequence number of the first octet in `sendBuf`. */
  sendBufSeq = 1;
  /** The application closed its sending side: FIN follows the buffered data. */
  finQueued = false;

  // ---- receive sequence space (unwrapped, IRS = 0)
  irs = 0;
  rcvNxt = 0;
  readonly recvBuf: RingBuffer;
  readonly assembler = new Assembler(64);
  /** Right edge of the window we last advertised. */
  rcvAdvRight = 0;
  /** Sequence of a FIN that arrived out of order, or -1. */
  rcvFinSeq = -1;
  /** The peer's FIN has been consumed into RCV.NXT (no more data will come). */
  finReceived = false;
  /** The application stopped reading: incoming data is acknowledged and discarded. */
  readClosed = false;
  tsRecent = 0;
  lastAckSent = 0;
  private tsOffset: number;

  // ---- retransmission (RFC 6298)
  rto: number;
  srtt = -1;
  rttvar = 0;
  private rttSeq = -1;
  private rttStart = 0;
  private backoffs = 0;
  /** When our first SYN left (handshake RTT sample), or -1. */
  private synSentAt = -1;

  // ---- loss recovery (RFC 5681, 6582, 6675)
  cc: CongestionControl;
  readonly scoreboard = new Scoreboard();
  dupAcks = 0;
  inRecovery = false;
  recoveryPoint = 0;
  /** RFC 6675 HighRxt: end of the highest retransmitted hole data. */
  highRxt = 0;
  /** Un-SACKed octets below this count as lost (set by RTO or NewReno recovery). */
  lostEnd = 0;
  /** Set by the RTO handler: the first retransmission goes out regardless of pipe. */
  private rtoRetransmitDue = false;

  // ---- tail loss probe (RFC 8985 section 7)
  /** When new data was last sent or SND.UNA last advanced (the PTO's start), ms. */
  private progressAt = 0;
  /** First sequence number of the outstanding probe, or -1 (RFC 8985 TLP.end_seq's episode). */
  private tlpSeq = -1;
  /** SND.NXT right after the outstanding probe was sent, or -1. */
  private tlpHigh = -1;
  /** A probe's SACK showed every un-SACKed octet below it lost: enter recovery. */
  private tlpLoss = false;
  /** End of the last retransmission of the octets at SND.UNA, or -1 (lost-retransmit check). */
  private rxUnaEnd = -1;
  /** SND.NXT when that retransmission left. */
  private rxUnaNxt = 0;

  // ---- ACK generation
  private segsUnacked = 0;
  private ackNow = false;

  // ---- timers: absolute deadlines (ms) folded into one clock timer
  rtoAt = NONE;
  /** Probe timeout deadline (RFC 8985 7.2), ms. */
  private ptoAt = NONE;
  private delackAt = NONE;
  private persistAt = NONE;
  private persistBackoff = 0;
  private keepaliveAt = NONE;
  private keepaliveProbes = 0;
  timewaitAt = NONE;
  private armedAt = NONE;
  private timer: unknown = null;
  private flushQueued = false;
  private turnAckQueued = false;
  private readonly onTimer = () => this.handleTimer();

  /** The segment to send, refilled for every one (ports fixed at construction). */
  private readonly seg = new TcpRepr();
  private readonly hole = [0, 0];
  /** Error to report when the connection ends. */
  private closeError: Error | null = null;

  constructor(
    host: SocketHost,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    iss: number,
    active: boolean,
  ) {
    const c = host.config;
    this.host = host;
    this.localPort = localPort;
    this.remoteAddr = remoteAddr;
    this.remotePort = remotePort;
    this.seg.sourcePort = localPort;
    this.seg.destinationPort = remotePort;
    this.iss = iss >>> 0;
    this.active = active;
    this.ourMss = c.mtu - 40;
    this.sendBuf = new RingBuffer(c.sendBufferSize);
    this.recvBuf = new RingBuffer(c.receiveBufferSize);
    this.rto = c.initialRtoMs;
    this.tsOffset = (iss * 2654435761) >>> 0; // per-connection offset (RFC 7323 5.4)
    this.cc = c.congestionControl === "newreno" ? new NewReno(536) : new Cubic(536);
    if (c.windowScaling) {
      while (this.rcvWscale < 14 && c.receiveBufferSize >> this.rcvWscale > 65535) this.rcvWscale++;
    }
  }

  /** A method, not a field comparison, so TypeScript does not narrow across callbacks. */
  isClosed(): boolean {
    return this.state === TcpState.CLOSED;
  }

  private get now(): number {
    return this.host.clock.now();
  }
  private tsNow(): number {
    return (Math.floor(this.now) + this.tsOffset) >>> 0;
  }

  // ======================================================================= open

  /** Active open (RFC 9293 3.10.1): send SYN, enter SYN-SENT. */
  connect(): void {
    this.state = TcpState.SYN_SENT;
    this.sendFirstSyn();
  }

  /** Sends our SYN (or SYN-ACK) for the first time and starts its retransmission timer. */
  private sendFirstSyn(): void {
    this.synSentAt = this.now;
    this.sndUna = 0;
    this.sndNxt = 1;
    this.sendSyn();
    this.rtoAt = this.now + this.rto;
    this.armTimer();
  }

  /**
   * Passive open: a SYN arrived on a listening port (RFC 9293 3.10.7.2). Records the peer's
   * options, sends SYN-ACK, enters SYN-RECEIVED.
   */
  acceptSyn(seg: TcpSegment, opts: TcpOptions): void {
    this.takePeerSyn(seg, opts);
    this.state = TcpState.SYN_RECEIVED;
    this.sendFirstSyn();
  }

  /** Records the peer's SYN: IRS, RCV.NXT and its options. */
  private takePeerSyn(seg: TcpSegment, opts: TcpOptions): void {
    this.irs = seg.seq;
    this.rcvNxt = 1;
    this.wsOffered = opts.windowScale >= 0;
    this.takeSynOptions(opts, seg.window);
  }

  private takeSynOptions(opts: TcpOptions, window: number): void {
    const c = this.host.config;
    if (opts.mss > 0) this.peerMss = opts.mss;
    this.tsOk = c.timestamps && opts.timestamps;
    if (this.tsOk) this.tsRecent = opts.tsVal;
    this.sackOk = c.sack && opts.sackPermitted;
    if (c.windowScaling && opts.windowScale >= 0) {
      this.sndWscale = opts.windowScale;
    } else {
      this.sndWscale = 0;
      this.rcvWscale = 0;
    }
    // Window in a SYN is never scaled (RFC 7323 2.2).
    this.sndWnd = window;
    this.maxSndWnd = window;
    this.smss = this.sendMss() - (this.tsOk ? 12 : 0);
    this.cc.setMss(this.smss);
  }

  private sendSyn(): void {
    const c = this.host.config;
    const seg = this.seg;
    const o = seg.options;
    o.mss = this.ourMss;
    const synAck = this.state === TcpState.SYN_RECEIVED;
    // On SYN-ACK, offer only what the peer offered (RFC 7323 2.2, RFC 2018 2).
    o.windowScale = c.windowScaling && (!synAck || this.wsOffered) ? this.rcvWscale : -1;
    o.sackPermitted = synAck ? this.sackOk : c.sack;
    o.timestamps = synAck ? this.tsOk : c.timestamps;
    o.tsVal = this.tsNow();
    o.tsEcr = synAck && this.tsOk ? this.tsRecent : 0;
    o.sackCount = 0;
    const flags = synAck ? TcpFlags.SYN | TcpFlags.ACK : TcpFlags.SYN;
    const wnd = Math.min(this.recvBuf.capacity, 65535);
    this.rcvAdvRight = this.rcvNxt + wnd;
    // Last.ACK.sent of RFC 7323 4.3: without it TS.Recent would stay at the SYN's value.
    if (synAck) this.lastAckSent = this.rcvNxt;
    seg.seq = this.iss;
    seg.ack = synAck ? wrap(this.rcvNxt, this.irs) : 0;
    seg.flags = flags;
    seg.window = wnd;
    seg.setPayload(null, 0, 0);
    this.host.emit(this.remoteAddr, seg);
    this.host.stats.segmentsSent++;
    o.mss = -1;
    o.windowScale = -1;
    o.sackPermitted = false;
  }

  // ================================================================== user calls

  /** Copies as much of `data[off..]` into the send buffer as fits; returns octets taken. */
  write(data: Uint8Array, off = 0): number {
    if (this.finQueued || !this.canSend()) return 0;
    const n = this.sendBuf.append(data, off);
    if (n > 0) this.scheduleFlush();
    return n;
  }

  /** Whether the application may still queue data. */
  canSend(): boolean {
    const s = this.state;
    return s === TcpState.ESTABLISHED || s === TcpState.CLOSE_WAIT ||
      s === TcpState.SYN_SENT || s === TcpState.SYN_RECEIVED;
  }

  /** Octets the application can read now. */
  get readableLength(): number {
    return this.recvBuf.length;
  }

  /** True once the peer's FIN is consumed and every octet before it was read. */
  get readEnded(): boolean {
    return this.finReceived && this.recvBuf.length === 0;
  }

  /** Copies up to `dst.length` readable octets into `dst`; returns how many. */
  read(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.recvBuf.length);
    if (n === 0) return 0;
    this.recvBuf.readAt(0, dst, 0, n);
    this.recvBuf.consume(n);
    this.afterRead();
    return n;
  }

  /** The application will not read any more; buffered and future data is discarded. */
  shutdownRead(): void {
    this.readClosed = true;
    if (this.state === TcpState.FIN_WAIT_2 && this.timewaitAt === NONE) {
      this.timewaitAt = this.now + 2 * this.host.config.mslMs;
      this.armTimer();
    }
    if (this.recvBuf.length > 0) {
      this.recvBuf.consume(this.recvBuf.length);
      this.afterRead();
    }
  }

  private afterRead(): void {
    if (this.state === TcpState.CLOSED || this.state === TcpState.TIME_WAIT) return;
    // Receiver SWS avoidance (RFC 9293 3.8.6.2.2): announce when the window grows enough.
    const edge = this.rcvNxt + this.recvBuf.free;
    const grow = edge - this.rcvAdvRight;
    const threshold = Math.min(this.recvBuf.capacity >> 1, this.ourMss);
    if (
      grow >= threshold || (this.rcvAdvRight - this.rcvNxt < this.ourMss && grow > 0 &&
        this.recvBuf.free >= this.ourMss)
    ) {
      this.ackNow = true;
      this.scheduleFlush();
    }
  }

  /** Close the sending side (RFC 9293 3.10.4): FIN after the buffered data. */
  shutdownWrite(): void {
    if (this.canSend() && !this.finQueued) {
      this.finQueued = true;
      this.scheduleFlush();
    }
  }

  /** Abort (RFC 9293 3.10.5): send RST if synchronized, then CLOSED. */
  abort(error: Error = new ConnectionAbortedError("connection aborted")): void {
    const s = this.state;
    if (s === TcpState.CLOSED) return;
    if (
      s !== TcpState.SYN_SENT && s !== TcpState.TIME_WAIT
    ) {
      this.sendRst(wrap(this.sndNxt, this.iss));
    }
    this.enterClosed(error);
  }

  private sendRst(seqWire: number): void {
    const seg = this.seg;
    seg.options.timestamps = false;
    seg.options.sackCount = 0;
    seg.seq = seqWire;
    seg.ack = 0;
    seg.flags = TcpFlags.RST;
    seg.window = 0;
    seg.setPayload(null, 0, 0);
    this.host.emit(this.remoteAddr, seg);
    this.host.stats.rstSent++;
    this.host.stats.segmentsSent++;
  }

  // ================================================================= input

  /**
   * Processes one arriving segment (RFC 9293 3.10.7). `seg` and `opts` are views valid only
   * during the call.
   */
  onSegment(seg: TcpSegment, opts: TcpOptions): void {
    this.host.stats.segmentsReceived++;
    switch (this.state) {
      case TcpState.CLOSED:
        return;
      case TcpState.SYN_SENT:
        this.onSegmentSynSent(seg, opts);
        break;
      default:
        this.onSegmentSynchronized(seg, opts);
    }
    if (!this.isClosed()) {
      this.output();
      this.armTimer();
    }
  }

  private onSegmentSynSent(seg: TcpSegment, opts: TcpOptions): void {
    const flags = seg.flags;
    let ackOk = false;
    if (flags & TcpFlags.ACK) {
      const ack = (seg.ack - this.iss) >>> 0; // 1 is the only acceptable value here
      if (ack !== 1) {
        if (!(flags & TcpFlags.RST)) this.sendRst(seg.ack);
        return;
      }
      ackOk = true;
    }
    if (flags & TcpFlags.RST) {
      if (ackOk) {
        this.host.stats.rstReceived++;
        this.enterClosed(
          new ConnectionRefusedError(
            `connection refused by ${formatIpv4(this.remoteAddr)}:${this.remotePort}`,
          ),
        );
      }
      return;
    }
    if (!(flags & TcpFlags.SYN)) return;
    this.takePeerSyn(seg, opts);
    if (ackOk) {
      this.sndUna = 1;
      this.sndWl1 = 0;
      this.sndWl2 = 1;
      this.rttSample(opts, 0);
      this.rtoAt = NONE;
      this.backoffs = 0;
      this.establish();
      this.ackNow = true;
      // Data on a SYN-ACK is unusual but legal: fall through to text processing.
      if (seg.payloadLength > 0 || (flags & TcpFlags.FIN)) this.processText(seg, 1);
    } else {
      // Simultaneous open (RFC 9293 3.10.7.3, figure 8): SYN-RECEIVED, send SYN-ACK.
      this.state = TcpState.SYN_RECEIVED;
      this.sendSyn();
      this.rtoAt = this.now + this.rto;
    }
  }

  private establish(): void {
    this.state = TcpState.ESTABLISHED;
    this.rcvAdvRight = this.rcvNxt + this.windowToAdvertise();
    if (this.host.config.keepalive) {
      this.keepaliveAt = this.now + this.host.config.keepalive.idleMs;
    }
    this.events.onEstablished();
    this.events.onWritable();
  }

  private onSegmentSynchronized(seg: TcpSegment, opts: TcpOptions): void {
    const flags = seg.flags;
    const stats = this.host.stats;
    const payload = seg.payloadLength;
    const seq = unwrap(seg.seq, this.irs, this.rcvNxt);
    const segLen = payload + (flags & TcpFlags.SYN ? 1 : 0) + (flags & TcpFlags.FIN ? 1 : 0);

    if (
      this.state === TcpState.SYN_RECEIVED && (flags & TcpFlags.SYN) && !(flags & TcpFlags.ACK) &&
      seq === 0
    ) {
      // The peer did not get our SYN-ACK and sent its SYN again: answer with SYN-ACK.
      this.sendSyn();
      return;
    }

    if (
      this.state === TcpState.SYN_RECEIVED && (flags & TcpFlags.SYN) && (flags & TcpFlags.ACK) &&
      !(flags & TcpFlags.RST) && seq === 0
    ) {
      // Simultaneous open (RFC 9293 figure 8, line 5): the peer's SYN-ACK acknowledges our
      // SYN. By the window test it is a duplicate of the SYN we already took, and the reply
      // to that would be our SYN-ACK again, so both ends would loop; take its ACK instead.
      if (unwrap(seg.ack, this.iss, this.sndUna) !== 1) {
        this.sendRst(seg.ack);
        return;
      }
      this.sndUna = 1;
      this.sndWnd = seg.window; // a SYN's window is never scaled (RFC 7323 2.2)
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = 0;
      this.sndWl2 = 1;
      if (this.tsOk && opts.timestamps) this.tsRecent = opts.tsVal;
      this.rttSample(opts, 0);
      this.rtoAt = NONE;
      this.backoffs = 0;
      this.establish();
      this.ackNow = true;
      return;
    }

    // 1. Sequence number check, with PAWS (RFC 7323 5.3).
    if (
      this.tsOk && opts.timestamps && !(flags & TcpFlags.RST) &&
      ((opts.tsVal - this.tsRecent) | 0) < 0
    ) {
      stats.dropped++;
      this.ackNow = true;
      return;
    }
    const wnd = Math.max(0, this.rcvAdvRight - this.rcvNxt);
    let acceptable: boolean;
    if (segLen === 0) {
      acceptable = wnd === 0 ? seq === this.rcvNxt : seq >= this.rcvNxt && seq < this.rcvNxt + wnd;
    } else {
      acceptable = wnd > 0 &&
        ((seq >= this.rcvNxt && seq < this.rcvNxt + wnd) ||
          (seq + segLen - 1 >= this.rcvNxt && seq + segLen - 1 < this.rcvNxt + wnd));
    }
    // A zero-window probe or a retransmitted FIN/old data: not acceptable, but ACK it.
    if (!acceptable) {
      if (!(flags & TcpFlags.RST)) {
        this.ackNow = true;
        if (this.state === TcpState.TIME_WAIT && (flags & TcpFlags.FIN)) {
          this.timewaitAt = this.now + 2 * this.host.config.mslMs;
        }
      }
      stats.dropped++;
      // RFC 9293 3.10.7.4: with a zero receive window no segment is acceptable, "but special
      // allowance should be made to accept valid ACKs". A peer holding data beyond our
      // (closed or too small) window sends every ACK with SEG.SEQ = its SND.NXT, past our
      // right edge; dropping their ACK fields deadlocks an echo: our send buffer never
      // drains, so the application never reads, so the window never opens.
      if (
        (flags & (TcpFlags.ACK | TcpFlags.RST | TcpFlags.SYN)) === TcpFlags.ACK &&
        seq >= this.rcvNxt && this.state !== TcpState.SYN_RECEIVED
      ) {
        const ack = unwrap(seg.ack, this.iss, this.sndUna);
        if (ack <= this.sndNxt && ack >= this.sndUna - this.maxSndWnd) {
          this.processAck(seg, opts, seq, ack, payload, flags);
        }
      }
      return;
    }

    // 2. RST (RFC 5961 section 3): exact match resets, in-window gets a challenge ACK.
    if (flags & TcpFlags.RST) {
      if (seq !== this.rcvNxt) {
        this.challengeAck();
        return;
      }
      stats.rstReceived++;
      if (this.state === TcpState.SYN_RECEIVED && !this.active) {
        this.enterClosed(null); // back to LISTEN: the listener never saw it
      } else if (
        this.state === TcpState.CLOSING || this.state === TcpState.LAST_ACK ||
        this.state === TcpState.TIME_WAIT
      ) {
        this.enterClosed(null);
      } else {
        this.enterClosed(
          new ConnectionResetError(
            `connection reset by ${formatIpv4(this.remoteAddr)}:${this.remotePort}`,
          ),
        );
      }
      return;
    }

    // 4. SYN in a synchronized state: challenge ACK (RFC 5961 section 4).
    if (flags & TcpFlags.SYN) {
      this.challengeAck();
      return;
    }

    // 5. ACK.
    if (!(flags & TcpFlags.ACK)) return;
    const ack = unwrap(seg.ack, this.iss, this.sndUna);
    if (this.state === TcpState.SYN_RECEIVED) {
      if (ack > this.sndUna && ack <= this.sndNxt) {
        this.sndUna = 1;
        this.sndWnd = seg.window << this.sndWscale;
        this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
        this.sndWl1 = seq;
        this.sndWl2 = ack;
        this.rttSample(opts, 0);
        this.rtoAt = NONE;
        this.backoffs = 0;
        this.establish();
        if (this.isClosed()) return; // closed by a callback
      } else {
        this.sendRst(seg.ack);
        return;
      }
    }
    // RFC 5961 section 5: ACK must lie in [SND.UNA - MAX.SND.WND, SND.NXT].
    if (ack > this.sndNxt) {
      this.challengeAck();
      return;
    }
    if (ack < this.sndUna - this.maxSndWnd) {
      this.challengeAck();
      return;
    }
    // TS.Recent update (RFC 7323 4.3).
    if (this.tsOk && opts.timestamps && seq <= this.lastAckSent) this.tsRecent = opts.tsVal;
    this.processAck(seg, opts, seq, ack, payload, flags);
    if (this.state === TcpState.CLOSED) return;

    // 6/7. Segment text, 8. FIN.
    if (payload > 0 || (flags & TcpFlags.FIN)) this.processText(seg, seq);
  }

  private challengeAck(): void {
    if (this.host.allowChallengeAck()) {
      this.host.stats.challengeAcks++;
      this.ackNow = true;
    }
  }

  private processAck(
    seg: TcpSegment,
    opts: TcpOptions,
    seq: number,
    ack: number,
    payload: number,
    flags: number,
  ): void {
    const now = this.now;
    const wnd = seg.window << this.sndWscale;
    let newSack = false;
    if (this.sackOk && opts.sackCount > 0) newSack = this.takeSack(opts, ack);

    if (ack > this.sndUna) {
      const acked = ack - this.sndUna;
      this.sndUna = ack;
      // Free acknowledged data (the SYN is seq 0 and the FIN follows the data).
      const dataAcked = Math.min(ack, this.sendBufSeq + this.sendBuf.length) - this.sendBufSeq;
      if (dataAcked > 0) {
        this.sendBuf.consume(dataAcked);
        this.sendBufSeq += dataAcked;
      }
      this.scoreboard.trim(ack);
      if (this.highRxt < ack) this.highRxt = ack;
      if (this.lostEnd < ack) this.lostEnd = ack;
      this.rttSample(opts, ack);
      this.backoffs = 0;
      this.progressAt = now;
      // RFC 6298 5.2/5.3: stop the timer when all is acked, else restart it.
      this.rtoAt = this.sndUna === this.sndNxt ? NONE : now + this.rto;
      this.keepaliveProbes = 0;

      if (this.inRecovery) {
        if (ack >= this.recoveryPoint) {
          this.inRecovery = false;
          this.dupAcks = 0;
          this.cc.onRecoveryEnd(now);
        } else if (!this.sackInfo()) {
          // NewReno partial ACK (RFC 6582 3.2 step 5): resend the next hole at once.
          this.lostEnd = Math.min(ack + this.smss, this.sndNxt);
          this.highRxt = ack;
          this.dupAcks = 0;
        }
      } else {
        this.dupAcks = 0;
        this.cc.onAck(acked, now, this.srtt);
      }
      if (dataAcked > 0) this.events.onWritable();
    } else if (
      ack === this.sndUna && this.sndNxt > this.sndUna && payload === 0 &&
      !(flags & (TcpFlags.SYN | TcpFlags.FIN)) &&
      (wnd === this.sndWnd || newSack)
    ) {
      // Duplicate ACK (RFC 5681 section 2, RFC 6675 section 2).
      this.dupAcks++;
    }

    // Window update (RFC 9293 3.10.7.4, SND.WL1/WL2 rule).
    if (this.sndWl1 < seq || (this.sndWl1 === seq && this.sndWl2 <= ack)) {
      const opened = this.sndWnd === 0 && wnd > 0;
      this.sndWnd = wnd;
      this.sndWl1 = seq;
      this.sndWl2 = ack;
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
      if (opened) {
        this.persistAt = NONE;
        this.persistBackoff = 0;
        if (this.sndNxt > this.sndUna && this.rtoAt === NONE) this.rtoAt = now + this.rto;
      }
    }

    if (this.tlpHigh >= 0) this.checkProbe();
    if (newSack && this.inRecovery) this.checkLostRetransmit();

    // Enter loss recovery (RFC 6675 section 5 / RFC 6582 3.2, RFC 8985 7.4).
    if (!this.inRecovery && this.sndNxt > this.sndUna) {
      const lost = this.sackOk
        ? this.dupAcks >= DUP_THRESH || this.tlpLoss ||
          this.scoreboard.lostBoundary(DUP_THRESH, this.smss) > this.sndUna
        : this.dupAcks >= DUP_THRESH;
      // RFC 6582 section 4: no new recovery until SND.UNA passes the old recovery point.
      if (lost && this.sndUna >= this.recoveryPoint) {
        this.enterRecovery(now);
      }
    }
    this.tlpLoss = false; // the lost octets stay marked (lostEnd) even without a new episode

    // Our FIN acknowledged?
    const finAcked = this.finQueued && this.sndUna === this.finSeq + 1;
    switch (this.state) {
      case TcpState.FIN_WAIT_1:
        if (finAcked) {
          this.state = TcpState.FIN_WAIT_2;
          // An application that stopped reading will never see the peer's FIN: do not
          // wait for it forever (like Linux's tcp_fin_timeout).
          if (this.readClosed) this.timewaitAt = this.now + 2 * this.host.config.mslMs;
          this.events.onFinAcked();
        }
        break;
      case TcpState.CLOSING:
        if (finAcked) this.enterTimeWait();
        break;
      case TcpState.LAST_ACK:
        if (finAcked) this.enterClosed(null);
        break;
      case TcpState.TIME_WAIT:
        break;
    }
  }

  /** Sequence number of our FIN: right after the last data octet. */
  get finSeq(): number {
    return this.sendBufSeq + this.sendBuf.length;
  }

  /** Records SACK blocks; returns true if any octet was newly SACKed. */
  private takeSack(opts: TcpOptions, ack: number): boolean {
    const before = this.scoreboard.sackedBytes;
    for (let k = 0; k < opts.sackCount; k++) {
      const l = unwrap(opts.sackBlocks[2 * k], this.iss, this.sndUna);
      const r = unwrap(opts.sackBlocks[2 * k + 1], this.iss, this.sndUna);
      // RFC 2018: ignore D-SACK and blocks outside (max(SND.UNA, ack), SND.NXT].
      if (r <= l || l < Math.max(this.sndUna, ack) || r > this.sndNxt) continue;
      this.scoreboard.add(l, r);
    }
    return this.scoreboard.sackedBytes !== before;
  }

  /**
   * What the ACK just processed says about the outstanding tail loss probe (RFC 8985 7.4):
   * acknowledged (the episode is over), or SACKed while octets below it are still missing.
   * Those were all sent at least one PTO (2 SRTT) before the probe, so RACK (RFC 8985 6.2,
   * reordering window SRTT/4) deems every un-SACKed one of them lost: they are marked lost
   * (`lostEnd`) and fast recovery starts instead of waiting for the RTO.
   */
  private checkProbe(): void {
    if (this.sndUna >= this.tlpHigh) {
      this.tlpSeq = this.tlpHigh = -1;
      return;
    }
    if (this.scoreboard.highest > this.tlpSeq) {
      if (this.tlpSeq > this.lostEnd) this.lostEnd = this.tlpSeq;
      this.tlpLoss = !this.inRecovery;
      this.tlpSeq = this.tlpHigh = -1;
    }
  }

  /**
   * A retransmission of the octets at SND.UNA is lost when data first sent after it is
   * SACKed with more than DupThresh segments to spare for reordering (RACK's time order,
   * RFC 8985 6.2, told by sequence: everything above `rxUnaNxt` left after it). Every hole is
   * then resent from SND.UNA (RFC 6675 NextSeg again from HighRxt = SND.UNA) instead of
   * waiting for the RTO, without a second window reduction (same recovery episode).
   */
  private checkLostRetransmit(): void {
    if (this.rxUnaEnd <= this.sndUna) return;
    if (this.scoreboard.highest < this.rxUnaNxt + DUP_THRESH * this.smss) return;
    this.rxUnaEnd = -1;
    this.highRxt = this.sndUna;
    this.host.stats.lostRetransmits++;
  }

  /**
   * Arms or disarms the probe timeout (RFC 8985 7.2): armed while data is outstanding, SACK
   * is in use, no recovery, persist or earlier probe is under way, at PTO = 2 SRTT (plus the
   * worst-case delayed ACK when one segment is outstanding) after the last new-data send or
   * cumulative ACK; not when the RTO would fire first.
   */
  private updatePto(): void {
    const s = this.state;
    if (
      !this.sackOk || this.inRecovery || this.tlpHigh >= 0 || this.sndNxt === this.sndUna ||
      this.persistAt !== NONE || this.backoffs > 0 || this.lostEnd > this.sndUna ||
      this.srtt < 0 || this.rtoAt === NONE ||
      (s !== TcpState.ESTABLISHED && s !== TcpState.CLOSE_WAIT && s !== TcpState.FIN_WAIT_1 &&
        s !== TcpState.CLOSING && s !== TcpState.LAST_ACK)
    ) {
      this.ptoAt = NONE;
      return;
    }
    let pto = Math.max(2 * this.srtt, 10);
    if (this.sndNxt - this.sndUna <= this.smss) pto += 200; // RFC 8985 WCDelAckT
    const at = this.progressAt + pto;
    this.ptoAt = at < this.rtoAt ? at : NONE;
  }

  /**
   * Probe timeout (RFC 8985 7.3): sends one segment to elicit an ACK that reveals a tail
   * loss: new data if the peer's window allows, else the last segment sent again.
   */
  private onPto(): void {
    this.ptoAt = NONE;
    const dataEnd = this.sendBufSeq + this.sendBuf.length;
    const mp = this.maxPayload();
    const wndRight = this.sndUna + this.sndWnd;
    let seq: number;
    if (dataEnd > this.sndNxt && wndRight > this.sndNxt) {
      seq = this.sndNxt;
      this.sendSegment(seq, Math.min(mp, dataEnd - seq, wndRight - seq), true);
    } else {
      const end = Math.min(this.sndNxt, dataEnd);
      seq = Math.max(this.sndUna, end - mp);
      if (seq >= end && !(this.finQueued && this.sndNxt > dataEnd)) return;
      this.sendSegment(seq, end - seq, true);
      this.host.stats.retransmits++;
    }
    this.host.stats.tailLossProbes++;
    this.tlpSeq = seq;
    this.tlpHigh = this.sndNxt;
    this.rtoAt = this.now + this.rto; // RFC 8985 7.3: restart the RTO after a probe
  }

  private enterRecovery(now: number): void {
    if (this.tlpLoss) this.host.stats.tlpRecoveries++;
    this.tlpLoss = false;
    this.inRecovery = true;
    this.recoveryPoint = this.sndNxt;
    this.host.stats.fastRetransmits++;
    this.cc.onCongestion(this.sndNxt - this.sndUna, now);
    this.highRxt = this.sndUna;
    if (!this.sackOk) this.lostEnd = Math.min(this.sndUna + this.smss, this.sndNxt);
    else this.lostEnd = Math.max(this.lostEnd, Math.min(this.sndUna + this.smss, this.sndNxt));
    this.rttSeq = -1; // Karn: no timing across a retransmission
  }

  /** RTT measurement (RFC 6298 section 2, RFC 7323 section 4). `ack` 0 = handshake. */
  private rttSample(opts: TcpOptions, ack: number): void {
    let sample = -1;
    if (this.tsOk && opts.timestamps && opts.tsEcr !== 0) {
      sample = (this.tsNow() - opts.tsEcr) | 0;
      if (sample < 0) sample = -1;
    } else if (ack === 0) {
      if (this.backoffs === 0 && this.synSentAt >= 0) sample = this.now - this.synSentAt;
    } else if (this.rttSeq >= 0 && ack > this.rttSeq) {
      sample = this.now - this.rttStart;
      this.rttSeq = -1;
    }
    if (sample < 0) return;
    const c = this.host.config;
    if (this.srtt < 0) {
      this.srtt = sample;
      this.rttvar = sample / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - sample);
      this.srtt = 0.875 * this.srtt + 0.125 * sample;
    }
    this.rto = Math.min(c.maxRtoMs, Math.max(c.minRtoMs, this.srtt + Math.max(1, 4 * this.rttvar)));
  }

  /** Text and FIN processing (RFC 9293 3.10.7.4 steps 7 and 8). */
  private processText(seg: TcpSegment, seq: number): void {
    const s = this.state;
    const flags = seg.flags;
    let payload = seg.payloadLength;
    let dataOff = seg.payloadOffset;
    let dataSeq = seq;
    if (flags & TcpFlags.SYN) dataSeq++;
    if (s !== TcpState.ESTABLISHED && s !== TcpState.FIN_WAIT_1 && s !== TcpState.FIN_WAIT_2) {
      // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent FIN; ignore text.
      payload = 0;
    }
    let finSeq = flags & TcpFlags.FIN ? dataSeq + seg.payloadLength : -1;
    // Trim what we already have.
    if (dataSeq < this.rcvNxt) {
      const cut = Math.min(this.rcvNxt - dataSeq, payload);
      dataOff += cut;
      payload -= cut;
      dataSeq += cut;
    }
    if (payload > 0 && !this.finReceived) {
      // Trim to the buffer's free space.
      const room = this.rcvNxt + this.recvBuf.free - dataSeq;
      if (payload > room) {
        payload = Math.max(0, room);
        finSeq = -1; // the FIN is beyond what we keep
      }
      if (payload > 0) {
        const offset = dataSeq - this.rcvNxt;
        if (offset === 0) {
          this.recvBuf.writeAt(0, seg.buffer, dataOff, payload);
          let end = dataSeq + payload;
          const hadHoles = this.assembler.count > 0;
          end = this.assembler.advance(end);
          this.commitReceived(end - this.rcvNxt);
          if (hadHoles) this.ackNow = true; // a hole was filled: ACK at once (RFC 5681 4.2)
          else if (++this.segsUnacked >= 2) this.ackAtTurnEnd();
          else if (this.delackAt === NONE) this.delackAt = this.now + this.host.config.delayedAckMs;
        } else {
          if (this.assembler.add(dataSeq, dataSeq + payload)) {
            this.recvBuf.writeAt(offset, seg.buffer, dataOff, payload);
          }
          this.host.stats.outOfOrder++;
          this.ackNow = true; // out of order: immediate duplicate ACK with SACK
        }
      }
    } else if (seg.payloadLength > 0) {
      this.ackNow = true; // duplicate data: ACK at once
    }

    if (finSeq >= 0) {
      if (finSeq >= this.rcvNxt && finSeq <= this.rcvNxt + this.recvBuf.free) {
        this.rcvFinSeq = finSeq;
      }
      this.ackNow = true;
    }
    if (this.rcvFinSeq >= 0 && this.rcvFinSeq === this.rcvNxt && !this.finReceived) {
      this.takeFin();
    }
  }

  private commitReceived(n: number): void {
    if (n <= 0) return;
    this.rcvNxt += n;
    if (this.readClosed) {
      // Nobody reads: drop it, but still advance (the application asked to discard).
      this.recvBuf.commit(n);
      this.recvBuf.consume(this.recvBuf.length);
    } else {
      this.recvBuf.commit(n);
      this.events.onReadable();
    }
  }

  private takeFin(): void {
    this.rcvNxt++;
    this.finReceived = true;
    this.ackNow = true;
    switch (this.state) {
      case TcpState.SYN_RECEIVED:
      case TcpState.ESTABLISHED:
        this.state = TcpState.CLOSE_WAIT;
        break;
      case TcpState.FIN_WAIT_1:
        // Our FIN not yet acknowledged (else we would be in FIN-WAIT-2): simultaneous close.
        this.state = TcpState.CLOSING;
        break;
      case TcpState.FIN_WAIT_2:
        this.enterTimeWait();
        break;
      default:
        break;
    }
    this.events.onReadable();
  }

  private enterTimeWait(): void {
    this.state = TcpState.TIME_WAIT;
    this.rtoAt = NONE;
    this.ptoAt = NONE;
    this.persistAt = NONE;
    this.keepaliveAt = NONE;
    this.timewaitAt = this.now + 2 * this.host.config.mslMs;
    this.events.onClosed(null);
    this.events = NO_EVENTS;
  }

  private enterClosed(error: Error | null): void {
    if (this.state === TcpState.CLOSED) return;
    this.state = TcpState.CLOSED;
    this.rtoAt =
      this.ptoAt =
      this.delackAt =
      this.persistAt =
      this.keepaliveAt =
      this.timewaitAt =
        NONE;
    if (this.timer !== null) {
      this.host.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    this.armedAt = NONE;
    this.closeError = error;
    this.host.release(this);
    const ev = this.events;
    this.events = NO_EVENTS;
    ev.onClosed(error);
  }

  /** The error the connection ended with (null for an orderly end or still open). */
  get error(): Error | null {
    return this.closeError;
  }

  /**
   * A SYN arrived for this TIME-WAIT connection (RFC 9293 3.10.7.4 / RFC 6191): it may
   * reopen the 4-tuple if it is newer than anything of the old incarnation. Returns true if
   * the old connection was dropped so the listener can take the SYN.
   */
  timeWaitAcceptsSyn(seg: TcpSegment, opts: TcpOptions): boolean {
    if (this.state !== TcpState.TIME_WAIT) return false;
    const newer = this.tsOk && opts.timestamps
      ? ((opts.tsVal - this.tsRecent) | 0) > 0
      : unwrap(seg.seq, this.irs, this.rcvNxt) > this.rcvNxt;
    if (!newer) return false;
    this.enterClosed(null);
    return true;
  }

  // ================================================================ output

  /**
   * Two or more in-order full segments are unacknowledged (RFC 9293 3.8.6.3: ACK at least
   * every second one). With a clock that has {@link Clock.nextTurn}, the ACK goes out once
   * the datagrams already received in this event-loop turn are processed (one ACK per
   * burst, as Linux acknowledges a GRO batch), but at once from
   * {@link TURN_ACK_MAX_SEGMENTS} segments on. Each ACK is a WireGuard datagram, a UDP send
   * and a hub forward on the UDP paths; bench/side_by_side.ts --transports udp.
   */
  private ackAtTurnEnd(): void {
    const clock = this.host.clock;
    if (!clock.nextTurn || this.segsUnacked >= TURN_ACK_MAX_SEGMENTS) {
      this.ackNow = true;
      return;
    }
    if (this.turnAckQueued) return;
    this.turnAckQueued = true;
    clock.nextTurn(this.onTurnEnd);
  }

  private readonly onTurnEnd = () => {
    this.turnAckQueued = false;
    if (this.segsUnacked < 2 || this.state === TcpState.CLOSED) return; // ACKed meanwhile
    this.ackNow = true;
    this.output();
    this.armTimer();
  };

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      if (this.state === TcpState.CLOSED) return;
      this.output();
      this.armTimer();
    });
  }

  /** The receive window to put in a segment, before scaling (octets). */
  private windowToAdvertise(): number {
    const free = this.readClosed ? this.recvBuf.capacity : this.recvBuf.free;
    // Never shrink the right edge (RFC 9293 3.8.6.2.1).
    const right = Math.max(this.rcvNxt + free, this.rcvAdvRight);
    return Math.min(right - this.rcvNxt, 65535 << this.rcvWscale);
  }

  /**
   * Sends what the windows allow: lost holes first (RFC 6675 NextSeg rule 1), then new
   * data, then FIN; a pure ACK if one is owed and nothing else carried it.
   */
  output(): void {
    const s = this.state;
    if (s === TcpState.CLOSED || s === TcpState.SYN_SENT) return;
    if (s === TcpState.SYN_RECEIVED) {
      if (this.ackNow) {
        this.ackNow = false;
        this.sendSyn();
      }
      return;
    }
    if (s === TcpState.TIME_WAIT) {
      if (this.ackNow) this.sendSegment(this.sndNxt, 0, false);
      return;
    }
    const canData = s === TcpState.ESTABLISHED || s === TcpState.CLOSE_WAIT ||
      s === TcpState.FIN_WAIT_1 || s === TcpState.CLOSING || s === TcpState.LAST_ACK;
    if (canData) this.sendData();
    if (this.ackNow) this.sendSegment(this.sndNxt, 0, false);
  }

  /**
   * Whether loss recovery has SACK information to work with. With SACK negotiated but no
   * blocks reported (gVisor stops sending them once it has sent its FIN), RFC 6675 alone
   * would leave every further hole to the RTO, so NewReno's rules apply (RFC 6582).
   */
  private sackInfo(): boolean {
    return this.sackOk && this.scoreboard.count > 0;
  }

  /** RFC 6675 SetPipe: octets believed in the network (RFC 6582 flight size without SACK). */
  private pipe(): number {
    const una = this.sndUna, nxt = this.sndNxt;
    if (!this.sackInfo()) {
      let p = nxt - una - this.dupAcks * this.smss;
      if (this.lostEnd > una && this.highRxt < this.lostEnd) p -= this.lostEnd - this.highRxt;
      return Math.max(0, p);
    }
    const sb = this.scoreboard;
    const lost = Math.max(una, this.lostBoundary());
    // Un-SACKed octets above the loss boundary are in flight, as are retransmitted ones.
    let p = (nxt - lost) - sb.sackedIn(lost, nxt);
    const rx = Math.min(this.highRxt, lost);
    if (rx > una) p += (rx - una) - sb.sackedIn(una, rx);
    return p;
  }

  /** Un-SACKed octets below this are considered lost. */
  private lostBoundary(): number {
    if (!this.sackOk) return this.lostEnd;
    const b = this.inRecovery || this.lostEnd > this.sndUna
      ? this.scoreboard.lostBoundary(DUP_THRESH, this.smss)
      : -1;
    return Math.max(b, this.lostEnd);
  }

  /**
   * Our sending MSS (RFC 9293 3.7.1): the peer's announced MSS, bounded by our own and by
   * what the path carries now (host.pathMtu, e.g. the tunnel's current transport).
   */
  private sendMss(): number {
    return Math.min(this.peerMss, this.ourMss, this.host.pathMtu() - 40);
  }

  private sendData(): void {
    const smss = this.sendMss() - (this.tsOk ? 12 : 0);
    if (smss !== this.smss) {
      // The path changed (e.g. WebSocket relay ↔ UDP): restart the window for the new size.
      this.smss = smss;
      this.cc.setMss(smss);
    }
    const cwnd = this.cc.cwnd;
    let pipe = this.pipe();
    const lostB = this.lostBoundary();
    // Rule 1: retransmit lost holes.
    for (;;) {
      const from = Math.max(this.highRxt, this.sndUna);
      if (from >= lostB) break;
      this.scoreboard.nextHole(from, this.hole);
      const start = this.hole[0];
      if (start >= lostB || start >= this.sndNxt) {
        this.highRxt = Math.max(this.highRxt, Math.min(lostB, this.sndNxt));
        break;
      }
      if (pipe >= cwnd && !this.rtoRetransmitDue) break;
      this.rtoRetransmitDue = false;
      const end = Math.min(this.hole[1], this.sndNxt, start + this.maxPayload());
      const len = this.sendSegment(start, end - start, true);
      if (len <= 0) break;
      if (start === this.sndUna) {
        this.rxUnaEnd = start + len;
        this.rxUnaNxt = this.sndNxt;
      }
      this.highRxt = start + len;
      pipe += len;
      this.host.stats.retransmits++;
      if (this.rtoAt === NONE) this.rtoAt = this.now + this.rto;
    }
    // Rule 2: new data within cwnd and the peer's window.
    const dataEnd = this.sendBufSeq + this.sendBuf.length;
    for (;;) {
      const avail = dataEnd - this.sndNxt;
      const finPending = this.finQueued && this.sndNxt === dataEnd; // FIN not yet sent
      if (avail <= 0 && !finPending) break;
      const wndRight = this.sndUna + this.sndWnd;
      const usable = Math.min(cwnd - pipe, wndRight - this.sndNxt);
      const mp = this.maxPayload();
      if (avail <= 0) {
        // Only the FIN is left: it needs no window but respects cwnd loosely.
        this.sendSegment(this.sndNxt, 0, true);
        break;
      }
      if (usable <= 0) {
        if (this.sndWnd === 0 || wndRight <= this.sndNxt) this.armPersist();
        break;
      }
      const len = Math.min(avail, mp, usable);
      // Sender SWS avoidance (RFC 9293 3.8.6.2.1): a short segment only if it carries all
      // buffered data, or is half the largest window the peer offered, or nothing is in flight.
      if (
        len < mp && len < avail && len < (this.maxSndWnd >> 1) && this.sndNxt > this.sndUna
      ) break;
      if (len < mp && !this.host.config.noDelay && this.sndNxt > this.sndUna && !this.finQueued) {
        break; // Nagle (RFC 9293 3.7.4)
      }
      const n = this.sendSegment(this.sndNxt, len, true);
      if (n <= 0) break;
      pipe += n;
    }
  }

  /** Largest payload in a segment with our current options (octets). */
  private maxPayload(): number {
    const sackLen = this.sackOk && this.assembler.count > 0
      ? 4 + 8 * Math.min(this.assembler.count, this.tsOk ? 3 : 4)
      : 0;
    const optLen = (this.tsOk ? 12 : 0) + sackLen;
    return this.sendMss() - optLen;
  }

  private armPersist(): void {
    if (this.persistAt !== NONE || this.sndNxt > this.sndUna) return;
    this.persistAt = this.now + this.persistInterval();
  }

  /** The persist timer's period: the RTO (at least its minimum), backed off, capped. */
  private persistInterval(): number {
    const c = this.host.config;
    return Math.min(
      c.maxRtoMs,
      Math.max(this.rto, c.minRtoMs) * (1 << Math.min(this.persistBackoff, 10)),
    );
  }

  /**
   * Emits one segment starting at `seq` with up to `len` payload octets; sets FIN when the
   * segment reaches the queued FIN. Advances SND.NXT for new data. Returns the sequence
   * space consumed.
   */
  private sendSegment(seq: number, len: number, withData: boolean): number {
    const seg = this.seg;
    const o = seg.options;
    const dataEnd = this.sendBufSeq + this.sendBuf.length;
    let fin = false;
    if (withData && this.finQueued && seq + len >= dataEnd && seq <= dataEnd) {
      len = Math.max(0, dataEnd - seq);
      fin = true;
    }
    o.timestamps = this.tsOk;
    if (this.tsOk) {
      o.tsVal = this.tsNow();
      o.tsEcr = this.tsRecent;
    }
    o.sackCount = 0;
    if (this.sackOk && this.assembler.count > 0) {
      const n = this.assembler.mostRecent(o.sackBlocks, this.tsOk ? 3 : 4);
      for (let k = 0; k < 2 * n; k++) o.sackBlocks[k] = wrap(o.sackBlocks[k], this.irs);
      o.sackCount = n;
    }
    const maxLen = Math.min(this.host.config.mtu, this.host.pathMtu()) - 40 - optionsLength(o);
    if (len > maxLen) {
      len = maxLen;
      if (seq + len < dataEnd) fin = false;
    }
    let flags = TcpFlags.ACK;
    if (fin) flags |= TcpFlags.FIN;
    if (len > 0 && seq + len === dataEnd) flags |= TcpFlags.PSH;
    const wnd = this.windowToAdvertise();
    this.rcvAdvRight = this.rcvNxt + ((wnd >> this.rcvWscale) << this.rcvWscale);
    seg.seq = wrap(seq, this.iss);
    seg.ack = wrap(this.rcvNxt, this.irs);
    seg.flags = flags;
    seg.window = wnd >> this.rcvWscale;
    seg.setPayload(this.sendBuf, seq - this.sendBufSeq, len);
    this.host.emit(this.remoteAddr, seg);
    this.host.stats.segmentsSent++;
    this.lastAckSent = this.rcvNxt;
    this.ackNow = false;
    this.segsUnacked = 0;
    this.delackAt = NONE;
    const consumed = len + (fin ? 1 : 0);
    const end = seq + consumed;
    if (end > this.sndNxt) {
      if (this.rttSeq < 0 && !this.tsOk && seq >= this.sndNxt) {
        this.rttSeq = seq;
        this.rttStart = this.now;
      }
      this.sndNxt = end;
      this.progressAt = this.now;
      if (this.rtoAt === NONE) this.rtoAt = this.now + this.rto;
    }
    if (fin) {
      if (this.state === TcpState.ESTABLISHED) this.state = TcpState.FIN_WAIT_1;
      else if (this.state === TcpState.CLOSE_WAIT) this.state = TcpState.LAST_ACK;
    }
    return consumed;
  }

  // ================================================================ timers

  /** (Re)arms the single clock timer for the earliest deadline, if it moved earlier. */
  armTimer(): void {
    this.updatePto();
    const next = Math.min(
      this.rtoAt,
      this.ptoAt,
      this.delackAt,
      this.persistAt,
      this.keepaliveAt,
      this.timewaitAt,
    );
    if (next === NONE || next >= this.armedAt) return;
    if (this.timer !== null) this.host.clock.clearTimeout(this.timer);
    this.armedAt = next;
    this.timer = this.host.clock.setTimeout(this.onTimer, Math.max(0, next - this.now));
  }

  private handleTimer(): void {
    this.timer = null;
    this.armedAt = NONE;
    if (this.state === TcpState.CLOSED) return;
    const now = this.now;
    this.updatePto();
    if (this.timewaitAt <= now) {
      this.enterClosed(null);
      return;
    }
    if (this.rtoAt <= now) this.onRto();
    else if (this.ptoAt <= now) this.onPto();
    if (this.isClosed()) return;
    if (this.persistAt <= now) this.onPersist();
    if (this.keepaliveAt <= now) this.onKeepalive();
    if (this.isClosed()) return;
    if (this.delackAt <= now) {
      this.delackAt = NONE;
      this.ackNow = true;
    }
    this.output();
    this.armTimer();
  }

  /** Retransmission timeout (RFC 6298 5.4-5.7, RFC 5681 3.1, RFC 6675 5.1). */
  private onRto(): void {
    const c = this.host.config;
    this.rtoAt = NONE;
    this.host.stats.timeouts++;
    const synState = this.state === TcpState.SYN_SENT || this.state === TcpState.SYN_RECEIVED;
    this.backoffs++;
    const limit = synState ? c.synRetries : c.maxRetransmits;
    if (this.backoffs > limit) {
      this.enterClosed(
        new ConnectionTimeoutError(
          synState
            ? `connection to ${formatIpv4(this.remoteAddr)}:${this.remotePort} timed out`
            : `connection to ${formatIpv4(this.remoteAddr)}:${this.remotePort} timed out ` +
              `after ${limit} retransmissions`,
        ),
      );
      return;
    }
    this.rto = Math.min(c.maxRtoMs, this.rto * 2);
    if (this.rto > this.host.stats.maxRtoMs) this.host.stats.maxRtoMs = this.rto;
    this.rttSeq = -1;
    this.tlpSeq = this.tlpHigh = -1;
    this.tlpLoss = false;
    if (synState) {
      this.sendSyn();
      this.rtoAt = this.now + this.rto;
      return;
    }
    if (this.sndNxt === this.sndUna) return;
    if (this.persistAt !== NONE) {
      // A zero-window probe is outstanding; the persist timer owns it.
      return;
    }
    this.cc.onRto(this.sndNxt - this.sndUna, this.now);
    this.inRecovery = false;
    this.dupAcks = 0;
    this.recoveryPoint = this.sndNxt;
    // Everything outstanding and not SACKed is lost; resend from SND.UNA.
    if (this.backoffs >= 2) this.scoreboard.clear(); // in case the receiver reneged
    this.lostEnd = this.sndNxt;
    this.highRxt = this.sndUna;
    this.rtoRetransmitDue = true;
    this.rtoAt = this.now + this.rto;
  }

  /** Zero-window probe (RFC 9293 3.8.6.1): one octet beyond the window. */
  private onPersist(): void {
    this.persistAt = NONE;
    if (this.sndWnd > 0 && this.sndUna + this.sndWnd > this.sndNxt) return;
    const dataEnd = this.sendBufSeq + this.sendBuf.length;
    if (this.sndNxt > this.sndUna) {
      // Re-send the octet at SND.UNA (a previous probe).
      this.sendSegment(this.sndUna, 1, true);
    } else if (dataEnd > this.sndNxt) {
      this.sendSegment(this.sndNxt, 1, true);
    } else {
      return;
    }
    this.rtoAt = NONE;
    this.persistBackoff++;
    this.persistAt = this.now + this.persistInterval();
  }

  private onKeepalive(): void {
    const ka = this.host.config.keepalive;
    if (!ka || this.state !== TcpState.ESTABLISHED && this.state !== TcpState.CLOSE_WAIT) {
      this.keepaliveAt = NONE;
      return;
    }
    if (this.keepaliveProbes >= ka.count) {
      this.enterClosed(
        new ConnectionTimeoutError(
          `connection to ${formatIpv4(this.remoteAddr)}:${this.remotePort} timed out (keepalive)`,
        ),
      );
      return;
    }
    this.keepaliveProbes++;
    // A segment with SEG.SEQ = SND.NXT - 1 and no data makes the peer ACK (RFC 9293 3.8.4).
    this.sendSegment(this.sndUna - 1, 0, false);
    this.keepaliveAt = this.now + ka.intervalMs;
  }

  /** Called by the stack for every segment that reaches this socket (keepalive idle reset). */
  noteActivity(): void {
    const ka = this.host.config.keepalive;
    if (ka && this.keepaliveAt !== NONE) {
      this.keepaliveAt = this.now + ka.idleMs;
      this.keepaliveProbes = 0;
    }
  }
}
