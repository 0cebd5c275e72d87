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

/**
 * Per-peer handshake state (wireguard-go `Handshake`; whitepaper §5.4.2-§5.4.5). Keys and
 * hashes are 32 octets; times are clock milliseconds.
 */
export class Handshake {
  /** Which message of the handshake was built or consumed last. */
  state: HandshakeState = "zeroed";
  /** The running transcript hash H (whitepaper §5.4). */
  hash: Uint8Array = new Uint8Array(32);
  /** The chaining key C (whitepaper §5.4). */
  chainKey: Uint8Array = new Uint8Array(32);
  /** Our ephemeral private key E_priv of this handshake. */
  ephemeralPrivate: Uint8Array = new Uint8Array(32);
  /** The peer's ephemeral public key E_pub of this handshake. */
  remoteEphemeral: Uint8Array = new Uint8Array(32);
  /** Our sender index I_i / I_r of this handshake, unsigned 32-bit. */
  localIndex = 0;
  /** The peer's sender index, unsigned 32-bit. */
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

  /**
   * @param remoteStatic the peer's static public key S_pub, 32 octets.
   * @param presharedKey Q, 32 octets (all zero when none is configured).
   * @param localStaticPrivate our static private key S_priv, 32 octets; only the
   *   static-static DH of it is kept.
   */
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
