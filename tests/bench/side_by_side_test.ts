/**
 * The side-by-side bench's and the profile summary's pure helpers: percentiles, /proc
 * parsing, CPU-per-GB arithmetic, iperf3 reports, option parsing, table formatting. No
 * timing, no processes.
 * @module
 */
import assert from "node:assert/strict";
import {
  cpuSecondsPerGB,
  formatReport,
  median,
  parseIperfJson,
  parseOptions,
  parseProcStat,
  parseStatusKiB,
  percentile,
  ratios,
  type Sample,
  sessionTransport,
  summarize,
  TABLE_HEADER,
  tableRows,
  tcpListening,
  totalTicks,
} from "../../bench/side_by_side.ts";
import { type CpuProfile, frameKey, selfTimes, topRows } from "../../bench/profile_summary.ts";
import { formatTable } from "../../bench/_table.ts";

Deno.test("percentile: nearest rank over sorted values; empty or out-of-range p throws", () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentile(v, 50), 50);
  assert.equal(percentile(v, 99), 99);
  assert.equal(percentile(v, 100), 100);
  assert.equal(percentile(v, 0), 1);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([1, 2, 3], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile(v, 101), RangeError);
});

Deno.test("median: middle value, mean of the middle two, NaN ignored, NaN for none", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([NaN, 5, 1]), 3);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("parseProcStat: fields 14-17 counted from the last ')' (names with spaces and parens)", () => {
  const rest = "S 1 2 3 4 5 6 7 8 9 10 1234 56 7 8 20 0 9 0 100 2000000 500";
  const t = parseProcStat(`4242 (deno (x) y) ${rest}`);
  assert.deepEqual(t, { utime: 1234, stime: 56, cutime: 7, cstime: 8 });
  assert.equal(totalTicks(t), 1305);
  assert.throws(() => parseProcStat("garbage"), /not a \/proc\/<pid>\/stat line/);
});

Deno.test("parseStatusKiB: VmRSS and VmHWM in kB; a missing field throws", () => {
  const s = "Name:\tdeno\nVmHWM:\t  120340 kB\nVmRSS:\t   80212 kB\nThreads:\t9\n";
  assert.equal(parseStatusKiB(s, "VmRSS"), 80212);
  assert.equal(parseStatusKiB(s, "VmHWM"), 120340);
  assert.throws(() => parseStatusKiB("Name:\tkthreadd\n", "VmRSS"), /no VmRSS/);
});

Deno.test("cpuSecondsPerGB: ticks / CLK_TCK per 10^9 bytes; no bytes is NaN", () => {
  assert.equal(cpuSecondsPerGB(250, 100, 1e9), 2.5);
  assert.equal(cpuSecondsPerGB(100, 100, 250e6), 4);
  assert.ok(Number.isNaN(cpuSecondsPerGB(10, 100, 0)));
});

Deno.test("parseIperfJson: the receiver's sums; iperf3's error is named", () => {
  const ok = JSON.stringify({
    end: {
      sum_sent: { bits_per_second: 9e8, bytes: 600, seconds: 5 },
      sum_received: { bits_per_second: 8e8, bytes: 500e6, seconds: 5 },
    },
  });
  assert.deepEqual(parseIperfJson(ok), { bitsPerSecond: 8e8, bytes: 500e6, seconds: 5 });
  assert.throws(
    () => parseIperfJson(JSON.stringify({ error: "unable to connect to server" })),
    /iperf3 failed: unable to connect/,
  );
  assert.throws(() => parseIperfJson("iperf3: error"), /no JSON report/);
});

Deno.test("tcpListening: a LISTEN (0A) row on the port in /proc/net/tcp", () => {
  const t =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
    "   0: 0100007F:1451 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n" +
    "   1: 0100007F:9C40 0100007F:1451 01 00000000:00000000 00:00000000 00000000     0        0 2\n";
  assert.ok(tcpListening(t, 5201));
  assert.ok(!tcpListening(t, 40000)); // established, not listening
  assert.ok(!tcpListening(t, 5300));
});

Deno.test("parseOptions: flags over environment, defaults, and errors that name the flag", () => {
  const none = () => undefined;
  const d = parseOptions([], none, false);
  assert.deepEqual(d, {
    rounds: 3,
    seconds: 5,
    rttRounds: 2000,
    transports: [undefined],
    impls: ["ours"],
    json: false,
  });
  assert.deepEqual(parseOptions([], none, true).impls, ["ours", "bin"]);
  const env = (n: string) => ({ BENCH_ROUNDS: "5", BENCH_TRANSPORTS: "udp" } as never)[n];
  const o = parseOptions(
    ["--rounds=2", "--transports", "websocket,udp", "-json", "--impls", "ours,base=/x"],
    env,
    false,
  );
  assert.equal(o.rounds, 2);
  assert.deepEqual(o.transports, ["websocket", "udp"]);
  assert.deepEqual(o.impls, ["ours", "base=/x"]);
  assert.ok(o.json);
  assert.equal(parseOptions([], env, false).rounds, 5);
  assert.throws(() => parseOptions(["--rounds", "0"], none, false), /--rounds .* 0 is not/);
  assert.throws(() => parseOptions(["--transports", "tcp"], none, false), /--transports tcp/);
  assert.throws(() => parseOptions(["--impls", "bin"], none, false), /needs BIN_TELAHUBD/);
  assert.throws(() => parseOptions(["--bogus", "1"], none, false), /unknown flag --bogus/);
});

function sample(round: number, up: number, p50: number): Sample {
  const r = (h: number, a: number, c: number) => ({ hub: h, agent: a, client: c });
  return {
    round,
    upMbps: up,
    downMbps: up * 2,
    bytes: 1e9,
    ticks: r(100, 200, 300),
    cpuPerGB: r(1, 2, 3),
    rttP50Ms: p50,
    rttP99Ms: p50 * 4,
    connectMs: 400,
    connectAfterListenMs: 150,
    rssIdleKiB: r(60 * 1024, 70 * 1024, 80 * 1024),
    rssPeakKiB: r(90 * 1024, 100 * 1024, 110 * 1024),
    transport: "websocket",
  };
}

Deno.test("summarize + tableRows + formatReport: medians, the issue's columns, ratios", () => {
  const a = summarize("ours", [sample(1, 100, 0.5), sample(2, 300, 0.7), sample(3, 200, 0.6)]);
  assert.equal(a.upMbps, 200);
  assert.equal(a.cpuPerGB.total, 6);
  assert.equal(a.rttP50Ms, 0.6);
  const b = summarize("other", [sample(1, 400, 0.3)]);
  const rows = tableRows([a]);
  assert.equal(rows[0].length, TABLE_HEADER.length);
  assert.deepEqual(rows[0], [
    "ours",
    "200",
    "400",
    "6.0 (1.0 / 2.0 / 3.0)",
    "0.60 / 2.40",
    "400 (150)",
    "60 / 70 / 80; 90 / 100 / 110",
    "websocket",
  ]);
  const r = ratios(b, a);
  assert.equal(r.up, 2);
  assert.equal(r.cpu, 1);
  assert.equal(r.rttP50, 0.5);
  const text = formatReport([a, b], "test");
  assert.match(text, /\| ours +\| +200 \|/);
  assert.match(text, /Ratios vs ours/);
  assert.match(text, /\| other +\| +2\.00× \|/);
  // No samples (every round failed): dashes, not NaN.
  const none = tableRows([summarize("broken", [])])[0];
  assert.ok(none.every((c) => !c.includes("NaN")), none.join(" | "));
});

Deno.test("formatTable: first column left-aligned, others right-aligned, separator row", () => {
  assert.equal(
    formatTable("T", ["name", "n"], [["a", "1"], ["bb", "22"]]),
    "T\n| name |  n |\n|------|----|\n| a    |  1 |\n| bb   | 22 |",
  );
});

Deno.test("profile summary: self time per function, sample i lasting to sample i+1", () => {
  const cf = (functionName: string, url = "", lineNumber = -1) => ({
    functionName,
    url,
    lineNumber,
  });
  const p: CpuProfile = {
    nodes: [
      { id: 1, callFrame: cf("(root)") },
      { id: 2, callFrame: cf("(idle)") },
      { id: 3, callFrame: cf("seal", new URL("../../lib/x.ts", import.meta.url).href, 9) },
    ],
    startTime: 0,
    endTime: 100,
    samples: [2, 3, 3, 2],
    timeDeltas: [10, 20, 30, 20], // stamps 10, 30, 60, 80; durations 20, 30, 20, 20
  };
  assert.equal(frameKey(p.nodes[2].callFrame), "seal (lib/x.ts:10)");
  const t = selfTimes(p);
  assert.equal(t.get("(idle)"), 40);
  assert.equal(t.get("seal (lib/x.ts:10)"), 50);
  assert.deepEqual(topRows(t, 1), [["seal (lib/x.ts:10)", "0.1", "55.6 %", "100.0 %"]]);
  assert.throws(() => selfTimes({ ...p, timeDeltas: [1] }), /not a V8 CPU profile/);
});

Deno.test("sessionTransport: issue 11's /api/status sessions, agreeing or not, or none", () => {
  const status = (sessions?: unknown[]) => ({
    machines: [{ id: "other", sessions: [{ client: "direct", agent: "direct" }] }, {
      id: "bench",
      agentConnected: true,
      ...(sessions ? { sessions } : {}),
    }],
  });
  assert.equal(
    sessionTransport(status([{ client: "udp-relay", agent: "udp-relay" }]), "bench"),
    "udp-relay",
  );
  assert.equal(
    sessionTransport(status([{ client: "direct", agent: "websocket" }]), "bench"),
    "direct|websocket",
  );
  assert.equal(sessionTransport(status(), "bench"), ""); // a hub before issue 11
  assert.equal(sessionTransport({}, "bench"), "");
});
