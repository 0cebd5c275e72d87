/**
 * The commands of the book's `tela` (Appendix A) that this version does not implement yet:
 * each has its help, and running it says it is not available (exit 1), so no word of the
 * book falls through to another command.
 * @module
 */
import {
  channelCommand,
  type Command,
  type FlagSpec,
  notAvailable,
  serviceCommand,
  updateCommand,
} from "../../cli/mod.ts";
import { JSON_FLAG } from "./shared.ts";

type Flags = Record<string, FlagSpec>;

interface Planned {
  summary: string;
  usage: string[];
  description: string;
  examples: string[];
  seeAlso: string[];
  flags?: Flags;
  args?: string[];
  commands?: Command[];
}

function planned(name: string, p: Planned): Command {
  return notAvailable({ name, ...p });
}

function remote(): Command {
  const see = ["tela remote", "tela connect"];
  return planned("remote", {
    summary: "Manage hub directory remotes (add, remove, list).",
    usage: ["tela remote add <name> <portal-url>", "tela remote list"],
    description: `Remotes are portals whose /api/hubs resolve hub short names for -hub
(~/.tela/config.yaml).`,
    examples: ["tela remote list"],
    seeAlso: ["tela connect"],
    commands: [
      planned("add", {
        summary: "Add a hub directory remote.",
        usage: ["tela remote add <name> <portal-url>"],
        description: "Stores the portal under the name; its hubs resolve as -hub short names.",
        args: ["<name>", "<portal-url>"],
        examples: ["tela remote add awan https://awansaya.net"],
        seeAlso: see,
      }),
      planned("remove", {
        summary: "Remove a hub directory remote.",
        usage: ["tela remote remove <name>"],
        description: "Forgets the named remote.",
        args: ["<name>"],
        examples: ["tela remote remove awan"],
        seeAlso: see,
      }),
      planned("list", {
        summary: "List hub directory remotes.",
        usage: ["tela remote list [-json]"],
        description: "Prints each remote with its portal URL.",
        flags: { json: JSON_FLAG },
        examples: ["tela remote list -json"],
        seeAlso: see,
      }),
    ],
  });
}

/**
 * The book's `tela` commands not built yet, in the book's order, with the built `pair`,
 * `admin`, `files` and `mount` in their places.
 * @param built the commands of the book's list that exist.
 */
export function plannedTelaCommands(
  built: { pair: Command; admin: Command; files: Command; mount: Command },
): Command[] {
  return [
    remote(),
    built.pair,
    built.admin,
    channelCommand("tela", false),
    updateCommand("tela"),
    built.files,
    built.mount,
    serviceCommand("tela", {}, true),
  ];
}
