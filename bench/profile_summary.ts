/**
 * Self time by function from V8 `.cpuprofile` files (`deno run --cpu-prof`, e.g. the ones
 * `BENCH_CPU_PROF=<dir> deno task bench:tunnel` writes): the top functions by self time, as a
 * Markdown table, one per file (or one for all with `--merge`).
 *
 * A sample's duration is the time to the next sample (`timeDeltas[i + 1]`; the last one runs
 * to `endTime`), as Chrome DevTools counts it. Functions are keyed by name, script (path
 * relative to the repository when inside it) and 1-based line. `(idle)` is the JS thread
 * waiting for events; `(program)` is V8/runtime work outside JS; `(garbage collector)` GC.
 *
 * Usage: deno run -A bench/profile_summary.ts [--top 25] [--merge] <file.cpuprofile|dir>...
 * @module
 */
import { formatTable } from "./_table.ts";

/** The parts of a V8 CPU profile (Chrome DevTools Protocol `Profiler.Profile`) used here. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const ROOT = new URL("../", import.meta.url).href;

/** `name (script:line)` for a call frame; scripts inside the repository shown relative. */
export function frameKey(f: { functionName: string; url: string; lineNumber: number }): string {
  const name = f.functionName || "(anonymous)";
  if (!f.url) return name;
  const url = f.url.startsWith(ROOT) ? f.url.slice(ROOT.length) : f.url.replace(/^file:\/\//, "");
  return `${name} (${url}:${f.lineNumber + 1})`;
}

/**
 * Self time per function (see {@link frameKey}), µs, added into `into` (a new map if none).
 * @throws Error when `samples` and `timeDeltas` differ in length (not a V8 CPU profile).
 */
export function selfTimes(p: CpuProfile, into = new Map<string, number>()): Map<string, number> {
  if (p.samples.length !== p.timeDeltas.length) {
    throw new Error(
      `not a V8 CPU profile: ${p.samples.length} samples but ${p.timeDeltas.length} timeDeltas`,
    );
  }
  const key = new Map(p.nodes.map((n) => [n.id, frameKey(n.callFrame)]));
  let t = p.startTime;
  const stamps = p.timeDeltas.map((d) => (t += d));
  for (let i = 0; i < p.samples.length; i++) {
    const dur = i + 1 < p.samples.length ? p.timeDeltas[i + 1] : Math.max(0, p.endTime - stamps[i]);
    const k = key.get(p.samples[i]) ?? `(node ${p.samples[i]})`;
    into.set(k, (into.get(k) ?? 0) + dur);
  }
  return into;
}

/**
 * The table rows (function, self ms, % of all, % of busy = all but `(idle)`) of the `top`
 * functions by self time, largest first.
 */
export function topRows(times: Map<string, number>, top: number): string[][] {
  const total = [...times.values()].reduce((a, b) => a + b, 0);
  const busy = total - (times.get("(idle)") ?? 0);
  const pct = (x: number, of: number) => of > 0 ? `${(100 * x / of).toFixed(1)} %` : "-";
  return [...times.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => [
      k,
      (us / 1000).toFixed(1),
      pct(us, total),
      k === "(idle)" ? "" : pct(us, busy),
    ]);
}

async function files(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    const st = await Deno.stat(a);
    if (!st.isDirectory) {
      out.push(a);
      continue;
    }
    for await (const e of Deno.readDir(a)) {
      const p = `${a.replace(/\/$/, "")}/${e.name}`;
      if (e.isDirectory) out.push(...await files([p]));
      else if (e.name.endsWith(".cpuprofile")) out.push(p);
    }
  }
  return out.sort();
}

async function main(): Promise<number> {
  const args = [...Deno.args];
  let top = 25;
  let merge = false;
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--top") top = Number(args[++i]);
    else if (args[i] === "--merge") merge = true;
    else paths.push(args[i]);
  }
  if (!paths.length || !(top > 0)) {
    console.error(
      "usage: deno run -A bench/profile_summary.ts [--top 25] [--merge] <file.cpuprofile|dir>...",
    );
    return 2;
  }
  const list = await files(paths);
  if (!list.length) {
    console.error(`no .cpuprofile files in ${paths.join(", ")}`);
    return 1;
  }
  const header = ["function (script:line)", "self ms", "% of all", "% of busy"];
  const merged = new Map<string, number>();
  for (const f of list) {
    const p = JSON.parse(await Deno.readTextFile(f)) as CpuProfile;
    if (merge) {
      selfTimes(p, merged);
      continue;
    }
    console.log(
      formatTable(`\n${f} (top ${top} by self time)`, header, topRows(selfTimes(p), top)),
    );
  }
  if (merge) {
    console.log(
      formatTable(
        `${list.length} profiles merged (top ${top} by self time)`,
        header,
        topRows(merged, top),
      ),
    );
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
