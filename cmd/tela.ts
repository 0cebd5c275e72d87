/**
 * `tela`, the client: `tela connect -hub <hub> -machine <m>` and friends (book, Appendix A).
 * Thin: the commands live in lib/client.
 * @module
 */
import { telaMain } from "../lib/client/mod.ts";
import { wireguardEngine } from "../lib/session/mod.ts";
import { sessionBind } from "../lib/transport/mod.ts";

if (import.meta.main) {
  Deno.exit(await telaMain(Deno.args, { bind: sessionBind(), engine: wireguardEngine }));
}
