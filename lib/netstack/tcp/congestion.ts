/**
 * Congestion controllers: NewReno (RFC 5681 with RFC 3465 byte counting) and CUBIC
 * (RFC 9438). Both keep `cwnd` and `ssthresh` in octets; loss recovery itself (which
 * segments to resend, RFC 6675 / RFC 6582) lives in the socket.
 * @module
 */

/** What the socket asks of a congestion controller. Sizes in octets, times in ms. */
export interface CongestionControl {
  readonly name: string;
  cwnd: number;
  ssthresh: number;
  /** New data acknowledged outside loss recovery. `rtt` is the smoothed RTT (ms) or -1. */
  onAck(acked: number, now: number, rtt: number): void;
  /** Entering fast recovery (RFC 5681 3.2 step 2): set ssthresh and cwnd. */
  onCongestion(flight: number, now: number): void;
  /** Retransmission timeout (RFC 5681 3.1 eq. 4): ssthresh from flight, cwnd = 1 SMSS. */
  onRto(flight: number, now: number): void;
  /** Leaving recovery: cwnd back to ssthresh (RFC 6582 3.2 step 3). */
  onRecoveryEnd(now: number): void;
  /** The sender's MSS changed (after the handshake). */
  setMss(smss: number): void;
}

/** Initial window, RFC 6928: min(10*MSS, max(2*MSS, 14600)). */
export function initialWindow(smss: number): number {
  return Math.min(10 * smss, Math.max(2 * smss, 14600));
}

/** What both controllers share: the windows, the initial window, slow start. */
abstract class WindowController {
  smss: number;
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;

  constructor(smss: number) {
    this.smss = smss;
    this.cwnd = initialWindow(smss);
  }
  setMss(smss: number): void {
    this.smss = smss;
    this.cwnd = initialWindow(smss);
  }
  /**
   * Slow start (RFC 5681 3.1 with RFC 3465 L = 2): grows cwnd and returns true while below
   * ssthresh; false once congestion avoidance applies.
   */
  protected slowStart(acked: number): boolean {
    if (this.cwnd >= this.ssthresh) return false;
    this.cwnd += Math.min(acked, 2 * this.smss);
    return true;
  }
}

/** NewReno: slow start, congestion avoidance with appropriate byte counting (L = 2). */
export class NewReno extends WindowController implements CongestionControl {
  readonly name = "newreno";
  private bytesAcked = 0;

  onAck(acked: number): void {
    if (this.slowStart(acked)) return;
    this.bytesAcked += acked;
    if (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.smss;
    }
  }
  onCongestion(flight: number): void {
    this.ssthresh = Math.max(flight / 2, 2 * this.smss);
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }
  onRto(flight: number): void {
    this.ssthresh = Math.max(flight / 2, 2 * this.smss);
    this.cwnd = this.smss;
    this.bytesAcked = 0;
  }
  onRecoveryEnd(): void {
    this.cwnd = this.ssthresh;
  }
}

/** CUBIC (RFC 9438) with fast convergence and the Reno-friendly region. */
export class Cubic extends WindowController implements CongestionControl {
  readonly name = "cubic";
  static readonly C = 0.4;
  static readonly BETA = 0.7;
  /** W_max in segments. */
  private wMax = 0;
  /** Start of the current congestion-avoidance epoch (ms), -1 before it starts. */
  private epoch = -1;
  private k = 0;
  /** W_est (Reno-friendly estimate) in segments. */
  private wEst = 0;

  /** W_cubic(t) of RFC 9438 4.2, in segments; `t` in seconds since the epoch. */
  private wCubic(t: number): number {
    return Cubic.C * (t - this.k) ** 3 + this.wMax;
  }

  onAck(acked: number, now: number, rtt: number): void {
    if (this.slowStart(acked)) return;
    const mss = this.smss;
    let cwndSeg = this.cwnd / mss;
    if (this.epoch < 0) {
      this.epoch = now;
      if (this.wMax <= cwndSeg) {
        this.wMax = cwndSeg;
        this.k = 0;
      } else {
        this.k = Math.cbrt((this.wMax - cwndSeg) / Cubic.C);
      }
      this.wEst = cwndSeg;
    }
    const rttS = Math.max(rtt, 1) / 1000;
    const t = (now - this.epoch) / 1000;
    const segsAcked = acked / mss;
    // Reno-friendly estimate, RFC 9438 4.3.
    const alpha = 3 * (1 - Cubic.BETA) / (1 + Cubic.BETA);
    this.wEst += alpha * segsAcked / cwndSeg;
    if (this.wCubic(t) < this.wEst) {
      cwndSeg = Math.max(cwndSeg, this.wEst);
    } else {
      const target = Math.min(Math.max(this.wCubic(t + rttS), cwndSeg), 1.5 * cwndSeg);
      cwndSeg += (target - cwndSeg) / cwndSeg * segsAcked;
    }
    this.cwnd = Math.max(cwndSeg * mss, 2 * mss);
  }
  private reduce(): void {
    const cwndSeg = this.cwnd / this.smss;
    // Fast convergence, RFC 9438 4.7.
    this.wMax = cwndSeg < this.wMax ? cwndSeg * (1 + Cubic.BETA) / 2 : cwndSeg;
    this.epoch = -1;
  }
  onCongestion(flight: number): void {
    this.reduce();
    this.ssthresh = Math.max(Math.min(this.cwnd, flight) * Cubic.BETA, 2 * this.smss);
    this.cwnd = this.ssthresh;
  }
  onRto(flight: number): void {
    this.reduce();
    this.ssthresh = Math.max(Math.min(this.cwnd, flight) * Cubic.BETA, 2 * this.smss);
    this.cwnd = this.smss;
  }
  onRecoveryEnd(): void {
    this.cwnd = Math.max(this.ssthresh, 2 * this.smss);
  }
}
