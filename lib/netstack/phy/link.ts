/**
 * A link simulator made of small wrappers around a packet sink, stacked like smoltcp's
 * `phy` devices: a fault injector (loss, duplication, corruption), an MTU limit, a delay
 * line (propagation delay, serialisation rate, a bounded queue, reordering) and a pcap tap.
 * Every random choice comes from one seeded {@link Rng}, so a failing run replays exactly.
 * Rates are probabilities in 0..1, sizes in octets, times in milliseconds.
 * @module
 */
import type { Clock } from "../../clock/mod.ts";
import type { PcapWriter } from "./pcap.ts";
import { Rng } from "./rng.ts";

/** Takes one packet; the bytes are valid only during the call. */
export type PacketSink = (packet: Uint8Array) => void;

/** What happened to the packets that entered one direction of a link. */
export interface LinkStats {
  /** Packets offered to the link. */
  offered: number;
  /** Packets handed to the far end (duplicates included). */
  delivered: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
  /** Dropped for exceeding the MTU. */
  oversize: number;
  /** Dropped because the queue in front of the rate limit was full. */
  queueDrops: number;
}

/** A fresh {@link LinkStats} with every counter at zero. */
export function newLinkStats(): LinkStats {
  return {
    offered: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    corrupted: 0,
    reordered: 0,
    oversize: 0,
    queueDrops: 0,
  };
}

/** Options of {@link faultInjector}. */
export interface FaultOptions {
  rng: Rng;
  /** Probability a packet is dropped. */
  lossRate?: number;
  /** Probability a packet is delivered twice. */
  duplicateRate?: number;
  /** Probability one random octet of a packet is flipped. */
  corruptRate?: number;
  stats?: LinkStats;
}

/** Drops, duplicates or corrupts packets on their way to `next`. */
export function faultInjector(next: PacketSink, o: FaultOptions): PacketSink {
  const stats = o.stats ?? newLinkStats();
  const loss = o.lossRate ?? 0, dup = o.duplicateRate ?? 0, corrupt = o.corruptRate ?? 0;
  return (p) => {
    if (o.rng.chance(loss)) {
      stats.lost++;
      return;
    }
    let pkt = p;
    if (o.rng.chance(corrupt) && p.length > 0) {
      pkt = p.slice();
      pkt[o.rng.below(pkt.length)] ^= 1 << o.rng.below(8);
      stats.corrupted++;
    }
    next(pkt);
    if (o.rng.chance(dup)) {
      stats.duplicated++;
      next(pkt);
    }
  };
}

/** Drops packets longer than `mtu` octets (counted as `oversize`). */
export function mtuLimit(
  next: PacketSink,
  mtu: number,
  stats: LinkStats = newLinkStats(),
): PacketSink {
  return (p) => {
    if (p.length > mtu) {
      stats.oversize++;
      return;
    }
    next(p);
  };
}

/** Options of {@link delayLine}. */
export interface DelayOptions {
  clock: Clock;
  rng: Rng;
  /** One-way propagation delay, ms. */
  delayMs?: number;
  /** Serialisation rate in octets per second; unlimited when 0 or absent. */
  rateBytesPerSecond?: number;
  /** Octets that may wait for the rate limit before tail drop; default 256 KiB. */
  queueLimitBytes?: number;
  /** Probability a packet is held back by `reorderDelayMs` so later ones overtake it. */
  reorderRate?: number;
  /** Extra delay of a reordered packet, ms; default 3 × delayMs or 5. */
  reorderDelayMs?: number;
  stats?: LinkStats;
}

/**
 * Delivers each packet (copied) to `next` after queueing for the rate limit and the
 * propagation delay. Packets come out in order unless reordering holds one back.
 */
export function delayLine(next: PacketSink, o: DelayOptions): PacketSink {
  const stats = o.stats ?? newLinkStats();
  const delay = o.delayMs ?? 0;
  const rate = o.rateBytesPerSecond ?? 0;
  const queueLimit = o.queueLimitBytes ?? 256 * 1024;
  const reorder = o.reorderRate ?? 0;
  const reorderDelay = o.reorderDelayMs ?? Math.max(5, 3 * delay);
  /** When the transmitter finishes the packets already queued, ms. */
  let busyUntil = 0;
  let queued = 0;
  return (p) => {
    const now = o.clock.now();
    const copy = p.slice();
    let departs = now;
    if (rate > 0) {
      if (queued + copy.length > queueLimit) {
        stats.queueDrops++;
        return;
      }
      departs = Math.max(now, busyUntil) + (copy.length * 1000) / rate;
      busyUntil = departs;
      queued += copy.length;
    }
    let arrives = departs + delay;
    if (o.rng.chance(reorder)) {
      arrives += reorderDelay;
      stats.reordered++;
    }
    o.clock.setTimeout(() => {
      if (rate > 0) queued -= copy.length;
      next(copy);
    }, arrives - now);
  };
}

/** Records every packet passing to `next` in `pcap`, timestamped by `clock`. */
export function pcapTap(next: PacketSink, pcap: PcapWriter, clock: Clock): PacketSink {
  return (p) => {
    pcap.record(p, clock.now());
    next(p);
  };
}

/** Options of {@link simulatedLink}: the same impairments in both directions. */
export interface LinkOptions {
  clock: Clock;
  /** Seed of every random choice on the link. */
  seed: number;
  lossRate?: number;
  duplicateRate?: number;
  corruptRate?: number;
  reorderRate?: number;
  reorderDelayMs?: number;
  /** One-way delay, ms (default 1). */
  delayMs?: number;
  rateBytesPerSecond?: number;
  queueLimitBytes?: number;
  /** Largest packet carried, octets (default unlimited). */
  mtu?: number;
  /** Records what each end sends, before impairments (what a capture at the sender sees). */
  pcap?: PcapWriter;
}

/** Two directions of a simulated link between endpoints `a` and `b`. */
export interface SimulatedLink {
  /** Give this to `a` as its output. */
  readonly fromA: PacketSink;
  /** Give this to `b` as its output. */
  readonly fromB: PacketSink;
  readonly statsAtoB: LinkStats;
  readonly statsBtoA: LinkStats;
  /** Stops delivering anything (packets in flight are dropped too). */
  cut(): void;
  /** Delivers again after {@link cut}. */
  restore(): void;
}

/**
 * Joins two packet receivers with a simulated link. The receivers are looked up on each
 * delivery, so they may be created after the link.
 */
export function simulatedLink(
  toA: () => PacketSink,
  toB: () => PacketSink,
  o: LinkOptions,
): SimulatedLink {
  const root = new Rng(o.seed);
  let up = true;
  const direction = (deliver: () => PacketSink, stats: LinkStats): PacketSink => {
    const rng = root.fork();
    const arrive: PacketSink = (p) => {
      if (!up) {
        stats.lost++;
        return;
      }
      stats.delivered++;
      deliver()(p);
    };
    const delayed = delayLine(arrive, {
      clock: o.clock,
      rng,
      delayMs: o.delayMs ?? 1,
      rateBytesPerSecond: o.rateBytesPerSecond,
      queueLimitBytes: o.queueLimitBytes,
      reorderRate: o.reorderRate,
      reorderDelayMs: o.reorderDelayMs,
      stats,
    });
    const faulty = faultInjector(delayed, {
      rng,
      lossRate: o.lossRate,
      duplicateRate: o.duplicateRate,
      corruptRate: o.corruptRate,
      stats,
    });
    const limited = o.mtu ? mtuLimit(faulty, o.mtu, stats) : faulty;
    const entry: PacketSink = (p) => {
      stats.offered++;
      if (!up) {
        stats.lost++;
        return;
      }
      limited(p);
    };
    return o.pcap ? pcapTap(entry, o.pcap, o.clock) : entry;
  };
  const statsAtoB = newLinkStats(), statsBtoA = newLinkStats();
  return {
    fromA: direction(toB, statsAtoB),
    fromB: direction(toA, statsBtoA),
    statsAtoB,
    statsBtoA,
    cut: () => (up = false),
    restore: () => (up = true),
  };
}
