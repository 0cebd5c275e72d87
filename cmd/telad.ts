/**
 * `telad`, the agent: `telad -config telad.yaml` or `telad -hub <url> -machine <m> -ports 22:SSH`
 * (book, *Run an agent*, Appendix A). Thin: the agent lives in lib/agent.
 * @module
 */
import { teladMain } from "../lib/agent/mod.ts";
import { wireguardEngine } from "../lib/session/mod.ts";
import { sessionBind } from "../lib/transport/mod.ts";

if (import.meta.main) {
  Deno.exit(await teladMain(Deno.args, { bind: sessionBind(), engine: wireguardEngine }));
}
