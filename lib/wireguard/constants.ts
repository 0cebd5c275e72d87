/**
 * Protocol constants of the WireGuard whitepaper (§5.4 identifiers, §6 timers and
 * limits), with the paper's names. Times are in milliseconds.
 * @module
 */

/** Noise protocol name, hashed into the initial chaining key. */
export const CONSTRUCTION = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
/** WireGuard identifier, mixed into the initial hash. */
export const IDENTIFIER = "WireGuard v1 zx2c4 Jason@zx2c4.com";
/** Label of the mac1 key: HASH(LABEL_MAC1 || Spub). */
export const LABEL_MAC1 = "mac1----";
/** Label of the cookie encryption key: HASH(LABEL_COOKIE || Spub). */
export const LABEL_COOKIE = "cookie--";

/** Initiate a new handshake after this many messages sent with one keypair (2^60). */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/**
 * Refuse to use a keypair after this many messages (2^64 - 2^13 - 1). Counters are
 * JS numbers here, so the practical ceiling is 2^53, far beyond any real session.
 */
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1;
/** Initiator starts a new handshake when its current keypair is this old. */
export const REKEY_AFTER_TIME = 120_000;
/** A keypair older than this is never used to send or receive. */
export const REJECT_AFTER_TIME = 180_000;
/** Give up retrying a handshake after this long. */
export const REKEY_ATTEMPT_TIME = 90_000;
/** Retransmit a handshake initiation after this long without a response. */
export const REKEY_TIMEOUT = 5_000;
/** Random extra delay added to handshake retransmits, [0, this) ms (wireguard-go: 334). */
export const REKEY_TIMEOUT_JITTER_MAX = 334;
/** Send an empty keepalive if data was received and nothing sent for this long. */
export const KEEPALIVE_TIMEOUT = 10_000;
/** Retransmits of one handshake attempt: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT. */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/** Cookie secrets (responder) and received cookies (initiator) live this long. */
export const COOKIE_REFRESH_TIME = 120_000;
/** A responder accepts at most one initiation per peer per this interval. */
export const HANDSHAKE_INITIATION_RATE = 50;
/** Once under load, stay under load (demand mac2) for this long. */
export const UNDER_LOAD_AFTER_TIME = 1_000;
/** Handshake messages per second above which the device considers itself under load. */
export const UNDER_LOAD_HANDSHAKES_PER_SECOND = 64;
/** Handshake messages accepted per second per source IP when under load. */
export const HANDSHAKE_RATE_PER_SECOND = 20;
/** Burst of handshake messages allowed per source IP when under load. */
export const HANDSHAKE_RATE_BURST = 5;
/** Packets queued per peer while waiting for a handshake. */
export const MAX_STAGED_PACKETS = 128;
/** Transport plaintext is zero-padded to a multiple of this many bytes. */
export const PADDING_MULTIPLE = 16;
/** Packets behind the newest one that the replay window still accepts (>= 2048). */
export const REPLAY_WINDOW_SIZE = 4064;

/** Timer and limit values a device uses; tests shrink them to exercise rekeying. */
export interface Limits {
  /** REKEY_AFTER_MESSAGES (messages). */
  rekeyAfterMessages: number;
  /** REJECT_AFTER_MESSAGES (messages). */
  rejectAfterMessages: number;
  /** REKEY_AFTER_TIME (ms). */
  rekeyAfterTime: number;
  /** REJECT_AFTER_TIME (ms). */
  rejectAfterTime: number;
  /** REKEY_TIMEOUT (ms). */
  rekeyTimeout: number;
  /** KEEPALIVE_TIMEOUT (ms). */
  keepaliveTimeout: number;
  /** Handshake retransmits before giving up (REKEY_ATTEMPT_TIME / REKEY_TIMEOUT). */
  maxTimerHandshakes: number;
}

/** The paper's values. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  rejectAfterMessages: REJECT_AFTER_MESSAGES,
  rekeyAfterTime: REKEY_AFTER_TIME,
  rejectAfterTime: REJECT_AFTER_TIME,
  rekeyTimeout: REKEY_TIMEOUT,
  keepaliveTimeout: KEEPALIVE_TIMEOUT,
  maxTimerHandshakes: MAX_TIMER_HANDSHAKES,
});
