/**
 * `deno task demo`: hub, agent and client on loopback with no configuration (book,
 * *First connection*). Thin: the demo lives in lib/demo.
 * @module
 */
import { demoMain } from "../lib/demo/mod.ts";

if (import.meta.main) {
  Deno.exit(await demoMain(Deno.args));
}
