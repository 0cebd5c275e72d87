import assert from "node:assert/strict";
import { command, HELP_WIDTH, renderHelp } from "./mod.ts";

Deno.test("help follows the book's format: header, sections in order, aligned flags, defaults", () => {
  const cmd = command({
    name: "connect",
    summary: "Connect to a hub and open a session.",
    usage: ["tela connect -hub <hub> -machine <machine> [flags]", "tela connect -profile <name>"],
    description: "Opens a WireGuard tunnel to the machine and binds local ports\nto its services.",
    flags: {
      hub: { type: "string", arg: "url|name", usage: "Hub URL or short name" },
      mtu: { type: "number", default: 1100, usage: "WireGuard tunnel MTU" },
      v: { type: "boolean", usage: "Verbose logging" },
    },
    examples: ["tela connect -hub owlsnest.parkscomputing.com -machine dev-vm"],
    seeAlso: ["tela status", "tela machines"],
  });
  assert.equal(
    renderHelp(cmd, "tela connect"),
    [
      "tela connect — Connect to a hub and open a session.",
      "",
      "USAGE",
      "  tela connect -hub <hub> -machine <machine> [flags]",
      "  tela connect -profile <name>",
      "",
      "DESCRIPTION",
      "  Opens a WireGuard tunnel to the machine and binds local ports to its services.",
      "",
      "FLAGS",
      "  -hub <url|name>   Hub URL or short name.",
      "  -mtu <n>          WireGuard tunnel MTU. Default: 1100.",
      "  -v                Verbose logging.",
      "",
      "EXAMPLES",
      "  tela connect -hub owlsnest.parkscomputing.com -machine dev-vm",
      "",
      "SEE ALSO",
      "  tela status, tela machines",
    ].join("\n"),
  );
});

Deno.test("help wraps prose and flag text at HELP_WIDTH columns; indented lines stay as written", () => {
  const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
  const text = renderHelp(
    command({
      name: "x",
      summary: "Do x.",
      usage: ["p x"],
      description: `${long}\n\nKept as written:\n  ${long}`,
      flags: { flag: { type: "string", arg: "v", usage: long } },
    }),
    "p x",
  );
  const lines = text.split("\n");
  const kept = lines.find((l) => l.startsWith("    word0 "));
  assert.ok(kept && kept.length > HELP_WIDTH, "an indented line is not rewrapped");
  for (const l of lines) if (l !== kept) assert.ok(l.length <= HELP_WIDTH, l);
  const flagLines = lines.slice(lines.indexOf("FLAGS") + 1);
  assert.match(flagLines[0], /^ {2}-flag <v> {3}word0 word1/);
  assert.match(flagLines[1], /^ {14}word\d+ /, "continuation under the text column");
  const start = lines.indexOf("DESCRIPTION") + 1;
  const prose = lines.slice(start, lines.indexOf("", start));
  assert.ok(prose.length > 1, "the paragraph was rewrapped");
  assert.equal(prose.join(" ").replace(/\s+/g, " ").trim(), long);
});

Deno.test("help leaves out empty sections", () => {
  const text = renderHelp(
    command({ name: "x", summary: "Do x.", usage: ["p x"], description: "Does x." }),
    "p x",
  );
  assert.equal(text, "p x — Do x.\n\nUSAGE\n  p x\n\nDESCRIPTION\n  Does x.");
});
