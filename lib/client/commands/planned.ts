/**
 * The commands of the book's `tela` (Appendix A) that this version does not implement yet:
 * each has its help, and running it says it is not available (exit 1), so no word of the
 * book falls through to another command.
 * @module
 */
import { channelCommand, type Command, serviceCommand, updateCommand } from "../../cli/mod.ts";

/**
 * The book's `tela` commands not built yet, in the book's order, with the built `remote`, `pair`,
 * `admin`, `files` and `mount` in their places.
 * @param built the commands of the book's list that exist.
 */
export function plannedTelaCommands(
  built: { remote: Command; pair: Command; admin: Command; files: Command; mount: Command },
): Command[] {
  return [
    built.remote,
    built.pair,
    built.admin,
    channelCommand("tela", false),
    updateCommand("tela"),
    built.files,
    built.mount,
    serviceCommand("tela", {}, true),
  ];
}
