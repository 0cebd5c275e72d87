/**
 * Simulated devices for testing the stack: a seeded RNG, link wrappers (loss, duplication,
 * corruption, MTU, delay, rate, reordering) and a pcap writer; they run on the virtual
 * clock of `lib/clock`.
 *
 * @example
 * ```ts
 * import { VirtualClock } from "../../clock/mod.ts";
 * import { NetStack } from "../mod.ts";
 * import { PcapWriter, simulatedLink } from "./mod.ts";
 * const clock = new VirtualClock();
 * const pcap = new PcapWriter();
 * let a!: NetStack, b!: NetStack;
 * const link = simulatedLink(() => (p) => a.input(p), () => (p) => b.input(p),
 *   { clock, seed: 1, lossRate: 0.01, pcap });
 * a = new NetStack({ address: "10.0.0.1", output: link.fromA, clock });
 * b = new NetStack({ address: "10.0.0.2", output: link.fromB, clock });
 * const l = b.listen(80);
 * const [conn] = await clock.run(Promise.all([a.dial("10.0.0.2", 80), l.accept()]));
 * conn.abort();
 * ```
 * @module
 */
export { Rng } from "./rng.ts";
export { LINKTYPE_RAW, PcapWriter } from "./pcap.ts";
export {
  delayLine,
  type DelayOptions,
  faultInjector,
  type FaultOptions,
  type LinkOptions,
  type LinkStats,
  mtuLimit,
  newLinkStats,
  type PacketSink,
  pcapTap,
  type SimulatedLink,
  simulatedLink,
} from "./link.ts";
