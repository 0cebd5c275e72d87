/** Runs every benchmark in `bench/` in turn; each prints its own table. */
const here = new URL(".", import.meta.url).pathname;
const names = [...Deno.readDirSync(here)]
  .map((e) => e.name)
  .filter((n) => n.endsWith(".ts") && n !== "all.ts" && !n.startsWith("_"))
  .sort();
for (const name of names) {
  console.log(`\n## bench/${name}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${here}${name}`, ...Deno.args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) Deno.exit(code);
}
