/**
 * Runs every benchmark in `bench/` in turn; each prints its own table. `profile_summary.ts`
 * is a tool, not a benchmark (it needs .cpuprofile files). `side_by_side.ts` runs one quick
 * round (`--rounds 1 --seconds 3 --rtt 1000`) when it can (root and iperf3), and is skipped
 * with a note otherwise; run `deno task bench:tunnel` for the full comparison.
 */
const here = new URL(".", import.meta.url).pathname;
const names = [...Deno.readDirSync(here)]
  .map((e) => e.name)
  .filter((n) =>
    n.endsWith(".ts") && n !== "all.ts" && n !== "profile_summary.ts" && !n.startsWith("_")
  )
  .sort();

/** Why side_by_side.ts cannot run here, or "" when it can. */
function sideBySideMissing(): string {
  if (Deno.uid() !== 0) return "needs root (unshare -n)";
  const which = new Deno.Command("sh", { args: ["-c", "command -v iperf3"] }).outputSync();
  return which.success ? "" : "needs iperf3 (apt-get install -y --no-install-recommends iperf3)";
}

for (const name of names) {
  console.log(`\n## bench/${name}`);
  let args = Deno.args;
  if (name === "side_by_side.ts") {
    const missing = sideBySideMissing();
    if (missing) {
      console.log(`skipped: ${missing}`);
      continue;
    }
    args = ["--rounds", "1", "--seconds", "3", "--rtt", "1000"];
  }
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${here}${name}`, ...args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) Deno.exit(code);
}
