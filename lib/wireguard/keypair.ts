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
}
