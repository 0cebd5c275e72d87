/**
 * The engine's modules import one another in one direction only: the peer reaches its
 * device through the interface it declares (`PeerDevice`), never by importing it.
 * Type-only imports count too; test files and JSDoc examples do not.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const IMPORT =
  /^(?:import|export)\b[^;]*?\sfrom\s+["'](\.{1,2}\/[^"']+)["']|^import\s+["'](\.{1,2}\/[^"']+)["']/gm;

/** Every import cycle among the non-test `.ts` files under `root`, as relative paths. */
function importCycles(root: string): string[][] {
  const graph = new Map<string, string[]>();
  const walk = (dir: string) => {
    const entries = [...Deno.readDirSync(dir)].sort((x, y) => x.name.localeCompare(y.name));
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory) walk(path);
      else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) {
        const targets = [...Deno.readTextFileSync(path).matchAll(IMPORT)]
          .map((m) => resolve(dirname(path), m[1] ?? m[2]))
          .filter((t) => t.startsWith(root + "/"));
        graph.set(path, targets);
      }
    }
  };
  walk(root);
  const onStack = new Set<string>();
  const done = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string) => {
    onStack.add(node);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (onStack.has(next)) cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!done.has(next)) visit(next);
    }
    stack.pop();
    onStack.delete(node);
    done.add(node);
  };
  for (const node of graph.keys()) if (!done.has(node)) visit(node);
  return cycles.map((c) => c.map((p) => relative(root, p)));
}

Deno.test("lib/wireguard has no import cycle", () => {
  const root = dirname(fileURLToPath(import.meta.url));
  assert.deepEqual(importCycles(root).map((c) => c.join(" -> ")), []);
});

Deno.test("the cycle check finds a type-only cycle and ignores JSDoc examples", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${root}/a.ts`,
      'import type { B } from "./b.ts";\nexport type A = B;\n',
    );
    Deno.writeTextFileSync(`${root}/b.ts`, 'import { c } from "./c.ts";\nexport type B = 1;\n');
    Deno.writeTextFileSync(
      `${root}/c.ts`,
      '/**\n * import { a } from "./a.ts";\n */\nexport { type A } from "./a.ts";\nexport const c = 1;\n',
    );
    Deno.writeTextFileSync(
      `${root}/d.ts`,
      '/** import { d } from "./d.ts"; */\nexport const d = 1;\n',
    );
    assert.deepEqual(importCycles(root), [["a.ts", "b.ts", "c.ts", "a.ts"]]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
