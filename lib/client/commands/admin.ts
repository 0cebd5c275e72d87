/**
 * `tela admin ...` of the book (Appendix A): access, tokens, portals, pairing codes, agents
 * and the hub, managed remotely through the hub's admin API. Not built yet: every command has
 * its help and says it is not available (exit 1).
 * @module
 */
import { type Command, type FlagSpec, notAvailable } from "../../cli/mod.ts";
import { HUB_FLAG, JSON_FLAG, MACHINE_FLAG } from "./shared.ts";

type Flags = Record<string, FlagSpec>;

function planned(name: string, p: Omit<Parameters<typeof notAvailable>[0], "name">): Command {
  return notAvailable({ name, ...p });
}

const ADMIN_TOKEN_FLAG = {
  type: "string",
  arg: "hex",
  usage: "Owner or admin token (else TELA_OWNER_TOKEN, TELA_TOKEN, the credential store)",
} as const satisfies FlagSpec;
const ADMIN_FLAGS = { hub: HUB_FLAG, token: ADMIN_TOKEN_FLAG } as const;
const ADMIN_MACHINE_FLAGS = { ...ADMIN_FLAGS, machine: MACHINE_FLAG } as const;
const LOG_LINES_FLAG = { type: "number", usage: "Number of log lines", default: 100 } as const;
const VERSION_FLAG = {
  type: "string",
  arg: "v",
  usage: "Version to install (default: the channel's latest)",
} as const;
const CHANNEL_ARG = "dev, beta, stable, or a custom channel name";

function adminAccess(): Command {
  const see = ["tela admin access", "tela admin tokens"];
  return planned("access", {
    summary: "List identities with their per-machine permissions.",
    usage: ["tela admin access [-hub <hub>] [-token <token>] [-json]"],
    description: `Reads the hub's unified access view (/api/admin/access): every token identity,
its role and the machines it may connect to, register or manage.`,
    flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
    examples: ["tela admin access -hub owlsnest.parkscomputing.com"],
    seeAlso: ["tela admin tokens", "tela admin pair-code"],
    commands: [
      planned("grant", {
        summary: "Grant an identity permissions on a machine.",
        usage: ["tela admin access grant <id> <machine> <perms>"],
        description: "Sets the identity's permissions on the machine: connect, register, manage.",
        flags: ADMIN_FLAGS,
        args: ["<id>", "<machine>", "<perms>"],
        examples: ["tela admin access grant alice workstation connect"],
        seeAlso: see,
      }),
      planned("revoke", {
        summary: "Revoke an identity's permissions on a machine.",
        usage: ["tela admin access revoke <id> <machine>"],
        description: "Removes every permission the identity has on the machine.",
        flags: ADMIN_FLAGS,
        args: ["<id>", "<machine>"],
        examples: ["tela admin access revoke alice workstation"],
        seeAlso: see,
      }),
      planned("rename", {
        summary: "Rename an identity.",
        usage: ["tela admin access rename <id> <new-id>"],
        description: "Changes the identity's name; its token and permissions stay.",
        flags: ADMIN_FLAGS,
        args: ["<id>", "<new-id>"],
        examples: ["tela admin access rename alice alice-laptop"],
        seeAlso: see,
      }),
      planned("remove", {
        summary: "Remove an identity and all its permissions.",
        usage: ["tela admin access remove <id>"],
        description: "Deletes the identity's token and every ACL entry that names it.",
        flags: ADMIN_FLAGS,
        args: ["<id>"],
        examples: ["tela admin access remove alice"],
        seeAlso: see,
      }),
    ],
  });
}

function adminTokens(): Command {
  const see = ["tela admin tokens", "tela admin rotate", "tela admin access"];
  return planned("tokens", {
    summary: "Manage token identities (list, add, remove).",
    usage: ["tela admin tokens list", "tela admin tokens add <id> [-role owner|admin]"],
    description: "Token identity management through the hub's /api/admin/tokens.",
    examples: ["tela admin tokens list -hub owlsnest.parkscomputing.com"],
    seeAlso: ["tela admin access", "tela admin rotate"],
    commands: [
      planned("list", {
        summary: "List token identities.",
        usage: ["tela admin tokens list [-json]"],
        description: "Prints each identity with its role and the first 8 characters of its token.",
        flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
        examples: ["tela admin tokens list -hub owlsnest.parkscomputing.com -json"],
        seeAlso: see,
      }),
      planned("add", {
        summary: "Add a token identity; prints its token once.",
        usage: ["tela admin tokens add <id> [-role owner|admin] [-json]"],
        description: "Creates an identity with a new 64-hex token and prints the token once.",
        flags: {
          ...ADMIN_FLAGS,
          role: { type: "string", arg: "owner|admin", usage: "Hub role" },
          json: JSON_FLAG,
        },
        args: ["<id>"],
        examples: ["tela admin tokens add bob -role admin"],
        seeAlso: see,
      }),
      planned("remove", {
        summary: "Remove a token identity.",
        usage: ["tela admin tokens remove <id>"],
        description: "Deletes the identity; its token stops working at once.",
        flags: ADMIN_FLAGS,
        args: ["<id>"],
        examples: ["tela admin tokens remove bob"],
        seeAlso: see,
      }),
    ],
  });
}

function adminPortals(): Command {
  const see = ["tela admin portals", "tela remote"];
  return planned("portals", {
    summary: "Manage the hub's portal registrations (list, add, remove).",
    usage: ["tela admin portals list", "tela admin portals add <name> -portal-url <url>"],
    description: "Portal registrations through the hub's /api/admin/portals.",
    examples: ["tela admin portals list -hub owlsnest.parkscomputing.com"],
    seeAlso: ["tela remote"],
    commands: [
      planned("list", {
        summary: "List portal registrations.",
        usage: ["tela admin portals list [-json]"],
        description: "Prints each portal the hub is registered with.",
        flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
        examples: ["tela admin portals list -json"],
        seeAlso: see,
      }),
      planned("add", {
        summary: "Register the hub with a portal.",
        usage: ["tela admin portals add <name> -portal-url <url>"],
        description: "Adds or updates a portal registration on the hub.",
        flags: {
          ...ADMIN_FLAGS,
          "portal-url": { type: "string", arg: "url", usage: "Portal URL" },
        },
        args: ["<name>"],
        examples: ["tela admin portals add awan -portal-url https://awansaya.net"],
        seeAlso: see,
      }),
      planned("remove", {
        summary: "Remove a portal registration.",
        usage: ["tela admin portals remove <name>"],
        description: "Deletes the hub's registration with the named portal.",
        flags: ADMIN_FLAGS,
        args: ["<name>"],
        examples: ["tela admin portals remove awan"],
        seeAlso: see,
      }),
    ],
  });
}

function adminAgent(): Command {
  const see = ["tela admin agent", "tela admin hub"];
  const leaf = (
    name: string,
    summary: string,
    usage: string,
    example: string,
    extra: Flags = {},
    args?: string[],
  ) =>
    planned(name, {
      summary,
      usage: [usage],
      description: `${summary} The request goes through the hub to the machine's agent.`,
      flags: { ...ADMIN_MACHINE_FLAGS, ...extra },
      args,
      examples: [example],
      seeAlso: see,
    });
  return planned("agent", {
    summary: "Manage agents remotely through the hub.",
    usage: ["tela admin agent list", "tela admin agent <action> -machine <id>"],
    description: "Remote management of telad through the hub's /api/admin/agents.",
    examples: ["tela admin agent list -hub owlsnest.parkscomputing.com"],
    seeAlso: ["tela admin hub", "tela machines"],
    commands: [
      planned("list", {
        summary: "List agents and their versions.",
        usage: ["tela admin agent list [-json]"],
        description: "Prints each agent connected to the hub with its version and channel.",
        flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
        examples: ["tela admin agent list -json"],
        seeAlso: see,
      }),
      leaf(
        "config",
        "Print an agent's configuration.",
        "tela admin agent config -machine <id>",
        "tela admin agent config -machine barn",
        { json: JSON_FLAG },
      ),
      leaf(
        "set",
        "Change an agent's configuration.",
        "tela admin agent set -machine <id> <json>",
        `tela admin agent set -machine barn '{"displayName":"Barn"}'`,
        {},
        ["<json>"],
      ),
      leaf(
        "logs",
        "Print an agent's recent log lines.",
        "tela admin agent logs -machine <id> [-n 100]",
        "tela admin agent logs -machine barn -n 50",
        { n: LOG_LINES_FLAG },
      ),
      leaf(
        "restart",
        "Restart an agent.",
        "tela admin agent restart -machine <id>",
        "tela admin agent restart -machine barn",
      ),
      leaf(
        "update",
        "Update an agent from its release channel.",
        "tela admin agent update -machine <id> [-version <v>]",
        "tela admin agent update -machine barn",
        { version: VERSION_FLAG },
      ),
      planned("channel", {
        summary: "Show or set an agent's release channel.",
        usage: [
          "tela admin agent channel -machine <id>",
          "tela admin agent channel -machine <id> set <channel>",
        ],
        description: `Shows the agent's channel; "set" switches it (${CHANNEL_ARG}).`,
        flags: { ...ADMIN_MACHINE_FLAGS, json: JSON_FLAG },
        examples: ["tela admin agent channel -machine barn"],
        seeAlso: see,
        commands: [
          leaf(
            "set",
            "Set an agent's release channel.",
            "tela admin agent channel -machine <id> set <channel>",
            "tela admin agent channel -machine barn set beta",
            {},
            ["<channel>"],
          ),
        ],
      }),
    ],
  });
}

function adminHub(): Command {
  const see = ["tela admin hub", "tela admin agent"];
  const leaf = (name: string, summary: string, usage: string, example: string, extra = {}) =>
    planned(name, {
      summary,
      usage: [usage],
      description: `${summary} Uses the hub's admin API.`,
      flags: { ...ADMIN_FLAGS, ...extra },
      examples: [example],
      seeAlso: see,
    });
  return planned("hub", {
    summary: "Manage the hub itself (status, logs, restart, update, channel).",
    usage: ["tela admin hub <action> [-hub <hub>] [-token <token>]"],
    description: "Lifecycle management of the hub through its admin API.",
    examples: ["tela admin hub status -hub owlsnest.parkscomputing.com"],
    seeAlso: ["tela admin agent", "tela status"],
    commands: [
      leaf(
        "status",
        "Print the hub's version, channel and uptime.",
        "tela admin hub status [-json]",
        "tela admin hub status -json",
        { json: JSON_FLAG },
      ),
      leaf(
        "logs",
        "Print the hub's recent log lines.",
        "tela admin hub logs [-n 100]",
        "tela admin hub logs -n 50",
        { n: LOG_LINES_FLAG },
      ),
      leaf("restart", "Restart the hub.", "tela admin hub restart", "tela admin hub restart"),
      leaf(
        "update",
        "Update the hub from its release channel.",
        "tela admin hub update [-version <v>]",
        "tela admin hub update",
        { version: VERSION_FLAG },
      ),
      planned("channel", {
        summary: "Show or set the hub's release channel.",
        usage: ["tela admin hub channel", "tela admin hub channel set <channel>"],
        description: `Shows the hub's channel; "set" switches it (${CHANNEL_ARG}).`,
        flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
        examples: ["tela admin hub channel"],
        seeAlso: see,
        commands: [
          leaf(
            "set",
            "Set the hub's release channel.",
            "tela admin hub channel set <channel>",
            "tela admin hub channel set beta",
          ),
        ],
      }),
    ],
  });
}

/**
 * `tela admin ...` (book, Appendix A): remote hub management, not built yet. Every
 * sub-command has its help and exits 1 with `NotAvailableError` when run.
 */
export function adminCommand(): Command {
  return planned("admin", {
    summary: "Manage a hub remotely: access, tokens, portals, pairing, agents, the hub.",
    usage: ["tela admin <resource> <action> [flags] [args]"],
    description: `Remote hub management through the hub's admin API; needs an owner or admin token.
Token resolution order: -token, TELA_OWNER_TOKEN, TELA_TOKEN, the credential store.`,
    examples: ["tela admin access -hub owlsnest.parkscomputing.com"],
    seeAlso: ["tela status", "tela login"],
    commands: [
      adminAccess(),
      adminTokens(),
      planned("rotate", {
        summary: "Regenerate an identity's token.",
        usage: ["tela admin rotate <id> [-json]"],
        description: "Replaces the identity's token with a new one and prints it once.",
        flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
        args: ["<id>"],
        examples: ["tela admin rotate alice"],
        seeAlso: ["tela admin tokens"],
      }),
      adminPortals(),
      planned("pair-code", {
        summary: "Generate a one-time pairing code.",
        usage: [
          "tela admin pair-code <machine> [-type connect|register] [-expires <duration>] [-machines <list>] [-json]",
        ],
        description: `Creates a code a user ("tela pair") or an agent exchanges for a token.`,
        flags: {
          ...ADMIN_FLAGS,
          type: {
            type: "string",
            arg: "connect|register",
            usage: "connect (for users) or register (for agents)",
            default: "connect",
          },
          expires: {
            type: "string",
            arg: "duration",
            usage: "Lifetime: 10m, 1h, 24h, 7d",
            default: "10m",
          },
          machines: {
            type: "string",
            arg: "list",
            usage: "Comma-separated machine IDs (connect type only)",
            default: "*",
          },
          json: JSON_FLAG,
        },
        args: ["<machine>"],
        examples: ["tela admin pair-code barn -type register -expires 1h"],
        seeAlso: ["tela pair"],
      }),
      adminAgent(),
      adminHub(),
    ],
  });
}
