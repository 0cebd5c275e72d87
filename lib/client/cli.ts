/**
 * `tela`, the client CLI (book, Appendix A; spec agent-and-client.md §9-§12). The command
 * tree lives in `commands/`; `cmd/tela.ts` only calls {@link telaMain}.
 * @module
 */
import { runCli } from "../cli/mod.ts";
import { telaCommand, type TelaDeps } from "./commands/mod.ts";

export { telaCommand, type TelaDeps } from "./commands/mod.ts";

/**
 * Runs `tela` with `args` (without the program name).
 * @returns the exit status: 0 success, 1 runtime error, 2 usage error, 3 configuration
 *   error (book, *TDL for the command line*).
 */
export async function telaMain(args: string[], deps: TelaDeps): Promise<number> {
  const out = deps.stdout ?? ((t: string) => console.log(t));
  const err = deps.stderr ?? ((t: string) => console.error(t));
  return await runCli(telaCommand(deps), args, { out, err });
}
