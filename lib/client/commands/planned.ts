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
import { JSON_FLAG, MACHINE_FLAG } from "./shared.ts";

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

function files(): Command {
  const see = ["tela files", "tela mount"];
  const leaf = (name: string, summary: string, args: string[], example: string, extra = {}) =>
    planned(name, {
      summary,
      usage: [`tela files ${name} -machine <m> ${args.join(" ")}`.trimEnd()],
      description: `${summary} Needs a running "tela connect" session to the machine.`,
      flags: { machine: MACHINE_FLAG, ...extra },
      args,
      examples: [example],
      seeAlso: see,
    });
  return planned("files", {
    summary: "Work with files shared by a connected machine.",
    usage: ["tela files <action> -machine <m> [args]"],
    description: `File operations on machines whose agent shares folders. Needs an active
"tela connect" session.`,
    examples: ["tela files ls -machine barn"],
    seeAlso: ["tela mount", "tela connect"],
    commands: [
      leaf("ls", "List files and directories.", ["[path]"], "tela files ls -machine barn shared/", {
        json: JSON_FLAG,
      }),
      leaf(
        "get",
        "Download a file.",
        ["<remote>"],
        "tela files get -machine barn notes.txt -o n.txt",
        {
          o: { type: "string", arg: "local", usage: "Local file (default: the remote name)" },
        },
      ),
      leaf(
        "put",
        "Upload a file.",
        ["<local>", "[remote-name]"],
        "tela files put -machine barn ./a.txt",
      ),
      leaf("rm", "Delete a file.", ["<path>"], "tela files rm -machine barn old.txt"),
      leaf("mkdir", "Create a directory.", ["<path>"], "tela files mkdir -machine barn reports"),
      leaf(
        "rename",
        "Rename a file (new name only, not a path).",
        ["<path>", "<new-name>"],
        "tela files rename -machine barn a.txt b.txt",
      ),
      leaf(
        "mv",
        "Move a file within the share.",
        ["<src>", "<dst>"],
        "tela files mv -machine barn a.txt old/a.txt",
      ),
      leaf(
        "info",
        "Show share status (file count, total size).",
        [],
        "tela files info -machine barn",
        {
          json: JSON_FLAG,
        },
      ),
    ],
  });
}

/**
 * The book's `tela` commands not built yet, in the book's order, with the built `pair`,
 * `admin` and `mount` in their places.
 * @param built the commands of the book's list that exist.
 */
export function plannedTelaCommands(
  built: { pair: Command; admin: Command; mount: Command },
): Command[] {
  return [
    remote(),
    built.pair,
    built.admin,
    channelCommand("tela", false),
    updateCommand("tela"),
    files(),
    built.mount,
    serviceCommand("tela", {}, true),
  ];
}
