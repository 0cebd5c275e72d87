/**
 * Transport keypairs and their rotation (whitepaper §5.4.5, §6): each peer keeps
 * `previous`, `current` and `next`.
 * @module
 */
import type { AeadKey } from "../crypto/mod.ts";
import { ReplayFilter } from "./replay.ts";

/** One direction-pair of transport keys from a completed handshake. */
export class Keypair {
  /** Next counter to send with (Nm_send). */
  sendNonce = 0;
  /** Counters received (Nm_recv window). */
  readonly replay: ReplayFilter = new ReplayFilter();

  /**
   * @param sendKey Tm_send.
   * @param receiveKey Tm_recv.
   * @param isInitiator true when we initiated the handshake that made it.
   * @param created clock time (ms) of the handshake.
   * @param localIndex our index, carried by the peer in transport messages to us.
   * @param remoteIndex the peer's index, which we put in transport messages to it.
   */
  constructor(
    readonly sendKey: AeadKey,
    readonly receiveKey: AeadKey,
    readonly isInitiator: boolean,
    readonly created: number,
    readonly localIndex: number,
    readonly remoteIndex: number,
  ) {}
}

/** A peer's three keypair slots. */
export class Keypairs {
  previous: Keypair | null = null;
  current: Keypair | null = null;
  /** Responder's new keypair, promoted once the initiator uses it (confirmation). */
  next: Keypair | null = null;

  /**
   * Installs the keypair of a completed handshake (wireguard-go BeginSymmetricSession):
   * the initiator uses it at once (`current`); the responder keeps it as `next` until the
   * initiator's first transport message confirms it.
   * @param kp the new keypair.
   * @param release called with every keypair dropped from the slots (to free its index).
   */
  install(kp: Keypair, release: (dropped: Keypair) => void): void {
    if (kp.isInitiator) {
      if (this.next !== null) {
        if (this.previous !== null) release(this.previous);
        this.previous = this.next;
        this.next = null;
        if (this.current !== null) release(this.current);
      } else {
        if (this.previous !== null) release(this.previous);
        this.previous = this.current;
      }
      this.current = kp;
    } else {
      if (this.next !== null) release(this.next);
      this.next = kp;
      if (this.previous !== null) release(this.previous);
      this.previous = null;
    }
  }

  /**
   * Promotes `next` to `current` when `kp` is it (key confirmation, §5.4.5); returns true
   * then. `release` gets the `previous` keypair that falls out.
   */
  confirm(kp: Keypair, release: (dropped: Keypair) => void): boolean {
    if (this.next !== kp) return false;
    if (this.previous !== null) release(this.previous);
    this.previous = this.current;
    this.current = kp;
    this.next = null;
    return true;
  }

  /** Empties the three slots, calling `release` with each keypair held. */
  clear(release: (dropped: Keypair) => void): void {
    for (const kp of [this.previous, this.current, this.next]) if (kp !== null) release(kp);
    this.previous = this.current = this.next = null;
  }
}
