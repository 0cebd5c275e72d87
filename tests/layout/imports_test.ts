/**
 * Import direction between the folders of lib/ (issue 9; shared/style.md, "The layout the
 * next features grow into"): agent and client are siblings that never import each other;
 * session, host and transport sit below them; protocol, crypto, wireguard and netstack
 * know nothing of the product. lib/demo composes everything and is exempt.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve, sep } from "node:path";

/** Folders each folder of lib/ must not import. */
const FORBIDDEN: Record<string, string[]> = {
  agent: ["client", "demo"],
  client: ["agent", "demo"],
  session: ["agent", "client", "hub", "cli", "demo"],
  host: ["agent", "client", "hub", "cli", "demo"],
  transport: ["agent", "client", "hub", "cli", "demo"],
  protocol: ["session", "host", "transport", "agent", "client", "hub", "demo"],
  crypto: ["session", "host", "transport", "agent", "client", "hub", "demo"],
  wireguard: ["session", "host", "transport", "agent", "client", "hub", "demo"],
  netstack: ["session", "host", "transport", "agent", "client", "hub", "demo"],
  gateway: ["agent", "client", "hub", "cli", "demo"],
};

/**
 * Module specifiers of static imports and re-exports (`import … from`, `import "…"`,
 * `export … from`) and dynamic `import("…")` in TypeScript source. Only statements that
 * start a line count, so examples inside JSDoc (` * import …`) do not.
 */
export function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s+(?:type\s+)?[\w$*{}\s,]*?\s*from\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

/** One import that goes the wrong way. */
interface Violation {
  file: string;
  specifier: string;
  from: string;
  to: string;
}

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* tsFiles(path);
    else if (e.isFile && /\.(ts|tsx|mts)$/.test(e.name)) yield path;
  }
}

/** The top folder of `path` under `lib`, or undefined when it is outside. */
function layerOf(lib: string, path: string): string | undefined {
  const rel = relative(lib, path);
  if (rel.startsWith("..") || rel === "") return undefined;
  const parts = rel.split(sep);
  return parts.length > 1 ? parts[0] : undefined;
}

/** Every import under `lib` that {@link FORBIDDEN} rules out. */
async function violations(lib: string): Promise<Violation[]> {
  const found: Violation[] = [];
  for await (const file of tsFiles(lib)) {
    const from = layerOf(lib, file);
    const banned = from ? FORBIDDEN[from] ?? [] : [];
    for (const specifier of importSpecifiers(await Deno.readTextFile(file))) {
      if (!specifier.startsWith(".")) continue; // npm:, node:, bare names from deno.json
      const to = layerOf(lib, resolve(dirname(file), specifier));
      if (to && banned.includes(to)) {
        found.push({ file: relative(lib, file), specifier, from: from!, to });
      }
    }
  }
  return found;
}

const LIB = resolve(dirname(new URL(import.meta.url).pathname), "../../lib");

Deno.test("lib/ imports go one way: agent and client never import each other, lower layers never import upward", async () => {
  const found = await violations(LIB);
  assert.deepEqual(
    found.map((v) => `lib/${v.file} (${v.from}) imports "${v.specifier}" (${v.to})`),
    [],
  );
});

Deno.test("the import check sees static, type-only, re-export and dynamic imports, and skips JSDoc examples", async () => {
  const lib = await Deno.makeTempDir({ prefix: "layout-" });
  try {
    const write = async (path: string, text: string) => {
      await Deno.mkdir(dirname(join(lib, path)), { recursive: true });
      await Deno.writeTextFile(join(lib, path), text);
    };
    await write(
      "agent/a.ts",
      [
        'import { x } from "../client/mod.ts";',
        "import {",
        "  type Y,",
        "  z,",
        '} from "../client/y.ts";',
        'import type { W } from "../session/mod.ts";',
        'export * from "../client/z.ts";',
        'const m = await import("../client/lazy.ts");',
        "/**",
        " * @example",
        ' * import { q } from "../client/doc.ts";',
        " */",
      ].join("\n"),
    );
    await write("session/s.ts", 'import "../hub/side_effect.ts";\n');
    await write("wireguard/w.ts", 'export { t } from "../transport/mod.ts";\n');
    await write(
      "demo/mod.ts",
      'import { a } from "../agent/mod.ts";\nimport "../client/mod.ts";\n',
    );
    await write("client/c.ts", 'import { n } from "npm:yaml";\nimport "../session/mod.ts";\n');
    const found = (await violations(lib)).map((v) => `${v.file} -> ${v.specifier}`).sort();
    assert.deepEqual(found, [
      "agent/a.ts -> ../client/lazy.ts",
      "agent/a.ts -> ../client/mod.ts",
      "agent/a.ts -> ../client/y.ts",
      "agent/a.ts -> ../client/z.ts",
      "session/s.ts -> ../hub/side_effect.ts",
      "wireguard/w.ts -> ../transport/mod.ts",
    ]);
  } finally {
    await Deno.remove(lib, { recursive: true });
  }
});
