/**
 * The per-peer state of the Noise_IKpsk2 handshake (whitepaper §5.4.2-§5.4.5,
 * wireguard-go `Handshake`): chaining key, hash, ephemeral keys, indices and the replay
 * timestamp. The messages that move it along are built and consumed in `noise.ts`.
 * @module
 */
import { dh, TAI64N_SIZE } from "../crypto/mod.ts";

/** Where a peer's handshake stands. */
export type HandshakeState =
  | "zeroed"
  | "initiation-created"
  | "initiation-consumed"
  | "response-created"
  | "response-consumed";

/** The initiator-side state of an initiation we sent and still await a response to. */
export interface PendingInitiation {
  hash: Uint8Array;
  chainKey: Uint8Array;
  ephemeralPrivate: Uint8Array;
  localIndex: number;
}

/** Per-peer handshake state (wireguard-go `Handshake`). */
export class Handshake {
  state: HandshakeState = "zeroed";
  hash: Uint8Array = new Uint8Array(32);
  chainKey: Uint8Array = new Uint8Array(32);
  ephemeralPrivate: Uint8Array = new Uint8Array(32);
  remoteEphemeral: Uint8Array = new Uint8Array(32);
  localIndex = 0;
  remoteIndex = 0;
  /** Greatest TAI64N timestamp accepted from this peer (replay protection). */
  lastTimestamp: Uint8Array = new Uint8Array(TAI64N_SIZE);
  /** Clock time (ms) of the last initiation we consumed (flood protection). */
  lastInitiationConsumption = -Infinity;
  /** Clock time (ms) we last sent an initiation. */
  lastSentHandshake = -Infinity;
  /**
   * Our own initiation, set aside while we answer one from the peer that crossed it
   * on the wire, so the peer's response to ours can still complete (see Peer).
   */
  pendingInitiation: PendingInitiation | null = null;
  /** DH(Spriv_local, Spub_remote), fixed for the peer's lifetime; null if low-order. */
  precomputedStaticStatic: Uint8Array | null;

  constructor(
    readonly remoteStatic: Uint8Array,
    public presharedKey: Uint8Array,
    localStaticPrivate: Uint8Array,
  ) {
    this.precomputedStaticStatic = dh(localStaticPrivate, remoteStatic);
  }

  /** Forgets the ephemeral secrets and chaining state (not the replay timestamp). */
  clear(): void {
    this.hash.fill(0);
    this.chainKey.fill(0);
    this.ephemeralPrivate.fill(0);
    this.remoteEphemeral.fill(0);
    this.state = "zeroed";
  }
}
