/**
 * `telahubd`, the Tela hub (book, Appendix A). Thin: the command line lives in lib/hub/cli.ts.
 * @module
 */
import { telahubdMain } from "../lib/hub/mod.ts";

if (import.meta.main) {
  Deno.exit(await telahubdMain(Deno.args));
}
