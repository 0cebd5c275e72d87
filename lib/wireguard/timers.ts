/**
 * A peer's timers (whitepaper §6.2-§6.5, wireguard-go timers.go): handshake retransmission,
 * passive keepalive, the new-handshake deadline after unanswered data, zeroing of key
 * material and persistent keepalive. The send and receive paths report events
 * (`dataSent`, `anyAuthenticatedPacketReceived`, ...); an expired timer acts through the
 * {@link TimerActions} the peer gives, so this module knows nothing of peers or devices.
 * @module
 */
import type { Clock } from "../clock/mod.ts";
import type { Limits } from "./constants.ts";
import { LazyTimer } from "./timer.ts";

/** What the timers need from the device: its clock, the paper's limits and the jitter. */
export interface TimerDevice {
  readonly clock: Clock;
  readonly limits: Limits;
  /** Random jitter added to handshake timers, in ms, [0, REKEY_TIMEOUT_JITTER_MAX). */
  jitter(): number;
}

/** What an expired timer does; the peer implements it. */
export interface TimerActions {
  /** Sends a handshake initiation; `isRetry` keeps the attempt count (§6.4). */
  sendHandshakeInitiation(isRetry: boolean): void;
  /** Sends the staged packets, or an empty keepalive when none wait (§6.5). */
  sendKeepalive(): void;
  /** Drops the staged packets: the handshake was given up after REKEY_ATTEMPT_TIME (§6.4). */
  dropStagedPackets(): void;
  /** Forgets every keypair and the handshake state (§6.3, 3 × REJECT_AFTER_TIME). */
  zeroKeyMaterial(): void;
}

/** The five timers of one peer and the state they share. */
export class PeerTimers {
  /** Initiations retransmitted since the last new (non-retry) one. */
  handshakeAttempts = 0;
  /** The initiator already re-keyed because the current keypair nears REJECT_AFTER_TIME. */
  sentLastMinuteHandshake = false;
  #needAnotherKeepalive = false;
  #persistentKeepaliveMs: number;
  #device: TimerDevice;
  #actions: TimerActions;
  #retransmitHandshake: LazyTimer;
  #sendKeepalive: LazyTimer;
  #newHandshake: LazyTimer;
  #zeroKeyMaterial: LazyTimer;
  #persistentKeepalive: LazyTimer;

  /** @param persistentKeepaliveMs persistent keepalive interval in ms, 0 = off. */
  constructor(device: TimerDevice, actions: TimerActions, persistentKeepaliveMs: number) {
    this.#device = device;
    this.#actions = actions;
    this.#persistentKeepaliveMs = Math.max(0, persistentKeepaliveMs);
    const clock = device.clock;
    this.#retransmitHandshake = new LazyTimer(clock, () => this.#expiredRetransmitHandshake());
    this.#sendKeepalive = new LazyTimer(clock, () => this.#expiredSendKeepalive());
    this.#newHandshake = new LazyTimer(clock, () => actions.sendHandshakeInitiation(false));
    this.#zeroKeyMaterial = new LazyTimer(clock, () => actions.zeroKeyMaterial());
    this.#persistentKeepalive = new LazyTimer(clock, () => {
      if (this.#persistentKeepaliveMs > 0) actions.sendKeepalive();
    });
  }

  /** Persistent keepalive interval in ms (0 = off). */
  get persistentKeepaliveMs(): number {
    return this.#persistentKeepaliveMs;
  }
  set persistentKeepaliveMs(ms: number) {
    this.#persistentKeepaliveMs = Math.max(0, ms);
    if (this.#persistentKeepaliveMs === 0) this.#persistentKeepalive.del();
  }

  /** Data (not a keepalive) was sent: expect an answer before the new-handshake deadline. */
  dataSent(): void {
    const l = this.#device.limits;
    if (!this.#newHandshake.isPending) {
      this.#newHandshake.mod(l.keepaliveTimeout + l.rekeyTimeout + this.#device.jitter());
    }
  }

  /** Data was received: answer with a keepalive unless data goes out first (§6.5). */
  dataReceived(): void {
    if (!this.#sendKeepalive.isPending) {
      this.#sendKeepalive.mod(this.#device.limits.keepaliveTimeout);
    } else this.#needAnotherKeepalive = true;
  }

  /** Any authenticated packet (data, keepalive or handshake) was sent. */
  anyAuthenticatedPacketSent(): void {
    this.#sendKeepalive.del();
  }

  /** Any authenticated packet was received. */
  anyAuthenticatedPacketReceived(): void {
    this.#newHandshake.del();
  }

  /** Any authenticated packet was sent or received: restart the persistent keepalive. */
  anyAuthenticatedPacketTraversal(): void {
    if (this.#persistentKeepaliveMs > 0) this.#persistentKeepalive.mod(this.#persistentKeepaliveMs);
  }

  /** An initiation was sent: retransmit after REKEY_TIMEOUT plus jitter unless answered. */
  handshakeInitiated(): void {
    this.#retransmitHandshake.mod(this.#device.limits.rekeyTimeout + this.#device.jitter());
  }

  /** A handshake completed (the first transport message authenticated with its keys). */
  handshakeComplete(): void {
    this.#retransmitHandshake.del();
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  /** A keypair was derived: zero all key material 3 × REJECT_AFTER_TIME from now. */
  sessionDerived(): void {
    this.#zeroKeyMaterial.mod(this.#device.limits.rejectAfterTime * 3);
  }

  /** Stops every timer for good (the peer is removed or the device closed). */
  stop(): void {
    for (
      const t of [
        this.#retransmitHandshake,
        this.#sendKeepalive,
        this.#newHandshake,
        this.#zeroKeyMaterial,
        this.#persistentKeepalive,
      ]
    ) t.stop();
  }

  #expiredRetransmitHandshake(): void {
    const l = this.#device.limits;
    if (this.handshakeAttempts > l.maxTimerHandshakes) {
      this.#sendKeepalive.del();
      this.#actions.dropStagedPackets();
      if (!this.#zeroKeyMaterial.isPending) this.#zeroKeyMaterial.mod(l.rejectAfterTime * 3);
      return;
    }
    this.handshakeAttempts++;
    this.#actions.sendHandshakeInitiation(true);
  }

  #expiredSendKeepalive(): void {
    this.#actions.sendKeepalive();
    if (this.#needAnotherKeepalive) {
      this.#needAnotherKeepalive = false;
      this.#sendKeepalive.mod(this.#device.limits.keepaliveTimeout);
    }
  }
}
