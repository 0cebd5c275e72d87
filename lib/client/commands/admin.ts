/**
 * `tela admin ...` of the book (*Hub administration*, Appendix A): access, tokens, rotate,
 * portals, pairing codes, agents, the hub and its audit history, managed remotely through
 * the hub's admin API (spec hub-http-api.md §5, §7, §14) with an owner or admin token.
 * Remote agent management (config, set, logs, restart, update, channel) goes through the
 * hub's `/api/admin/agents` (spec §8, lib/client/admin_manage.ts).
 * @module
 */
import {
  type Command,
  command,
  type FlagSpec,
  type Invocation,
  suggest,
  UsageError,
} from "../../cli/mod.ts";
import { terminalPrompt } from "../../host/mod.ts";
import {
  AdminApiError,
  AdminClient,
  type AdminClient as Client,
  pathEscape,
  resolveAdminToken,
} from "../admin_api.ts";
import {
  type AccessRow,
  commaList,
  formatAccess,
  formatAgents,
  formatHistory,
  formatHubStatus,
  formatPairCode,
  formatPortals,
  formatTokens,
  type HistoryEvent,
  type HubStatusHeader,
  isoUtc,
  pairCodeGrant,
  type PairCodeReply,
  pairCommand,
  pairExpiresIn,
  parsePermissions,
  type PortalRow,
  roleName,
  tokenExpiresAt,
  type TokenRow,
} from "../admin_format.ts";
import {
  AGENT_CALL_TIMEOUT_MS,
  agentAction,
  CHANNEL_NAME,
  type ChannelStatus,
  formatAgentConfig,
  formatChannel,
  parseFieldsArg,
} from "../admin_manage.ts";
import { decodeHubStatus, machineJson } from "../hubapi.ts";
import { resolveHubUrl } from "../hubs.ts";
import { env, HUB_FLAG, JSON_FLAG, MACHINE_FLAG, type TelaDeps } from "./shared.ts";

type Flags = Record<string, FlagSpec>;

const ADMIN_TOKEN_FLAG = {
  type: "string",
  arg: "hex",
  usage: "Owner or admin token (else TELA_OWNER_TOKEN, TELA_TOKEN, the credential store)",
} as const satisfies FlagSpec;
const ADMIN_FLAGS = { hub: HUB_FLAG, token: ADMIN_TOKEN_FLAG } as const;
const ADMIN_MACHINE_FLAGS = { ...ADMIN_FLAGS, machine: MACHINE_FLAG } as const;
const FORCE_FLAG = {
  type: "boolean",
  usage: "Do not ask for confirmation (it is asked only when stdin is a terminal)",
} as const;
const LOG_LINES_FLAG = { type: "number", usage: "Number of log lines", default: 100 } as const;
const VERSION_FLAG = {
  type: "string",
  arg: "v",
  usage: "Version to install (default: the channel's latest)",
} as const;
const CHANNEL_ARG = "dev, beta, stable, or a custom channel name";
const H = "-hub wss://hub.example.com";

/** What every admin command's flags include. */
interface AdminValues {
  hub?: string;
  token?: string;
}

/**
 * The hub and token of an admin command: `-hub` (else `TELA_HUB`) resolved as `tela
 * connect` resolves it, the token per the book's order.
 * @param timeoutMs time allowed per call, ms (default the admin API's 10 s).
 * @throws {UsageError} without a hub, or for a hub value that cannot be resolved.
 * @throws {ConfigError} for a malformed `hubs.yaml` or credential store.
 */
async function connectAdmin(values: AdminValues, timeoutMs?: number): Promise<Client> {
  const hubArg = values.hub ?? env("TELA_HUB");
  if (!hubArg) throw new UsageError("-hub is required (or set TELA_HUB)");
  const hub = await resolveHubUrl(hubArg);
  return new AdminClient(hub, await resolveAdminToken(values.token, hub), timeoutMs);
}

/** The user answered anything but yes to a confirmation. Exit status 1. */
export class NotConfirmedError extends Error {
  override name = "NotConfirmedError";
}

/**
 * Asks `question [y/N]: ` on stderr when stdin is a terminal and `-force` was not given
 * (book, *TDL for the command line*, Interactive prompts); without a terminal the command
 * proceeds, as the book's scripted examples do.
 * @throws {NotConfirmedError} unless the answer is `y` or `yes`.
 */
async function confirm(
  question: string,
  nothingDone: string,
  force: boolean | undefined,
  deps?: TelaDeps,
): Promise<void> {
  if (force || !Deno.stdin.isTerminal()) return;
  const answer = await terminalPrompt(deps?.readLine)(`${question} Continue? [y/N]: `);
  if (!/^(y|yes)$/i.test(answer?.trim() ?? "")) {
    throw new NotConfirmedError(`not confirmed: ${nothingDone} (-force skips the question)`);
  }
}

/** `JSON.stringify(v, null, 2)`: every `-json` output. */
function json(v: unknown): string {
  return JSON.stringify(v, null, 2);
}

function identityNotFound(c: Client, id: string): (e: string) => string | undefined {
  return (e) =>
    /identity/i.test(e) || !e
      ? `identity "${id}" not found on ${c.hubUrl}; "tela admin access -hub ${c.hubUrl}" lists the identities`
      : undefined;
}

function identityPath(id: string): string {
  return `/api/admin/access/${pathEscape(id)}`;
}

// ------------------------------------------------------------------------------- access

async function listAccess({ values, out, err }: Invocation<Flags>): Promise<void> {
  const c = await connectAdmin(values as AdminValues);
  const doc = await c.call<{ access?: AccessRow[] }>({ method: "GET", path: "/api/admin/access" });
  const rows = (Array.isArray(doc.access) ? doc.access : []).map((r) => ({
    ...r,
    role: roleName(r.role),
  }));
  if (values.json) return void out(json(rows));
  if (rows.length === 0) return void err("No identities.");
  out(formatAccess(rows));
}

function adminAccess(deps?: TelaDeps): Command {
  const see = ["tela admin access", "tela admin tokens"];
  const listFlags = { ...ADMIN_FLAGS, json: JSON_FLAG };
  return command({
    name: "access",
    summary: "List identities with their per-machine permissions.",
    usage: [
      "tela admin access [list] [-hub <hub>] [-token <token>] [-json]",
      "tela admin access grant <id> <machine> <perms> [-services <names>]",
      "tela admin access revoke <id> <machine>",
      "tela admin access rename <id> <new-id>",
      "tela admin access set <id> -role owner|admin|user",
      "tela admin access remove <id> [-force]",
    ],
    description: `Reads the hub's unified access view (/api/admin/access): every token identity,
its role and the machines it may connect to, register or manage. Owner and admin tokens
have every permission on every machine. The sub-commands change it; changes apply at once.`,
    flags: listFlags,
    examples: [
      "tela admin access -hub wss://owlsnest.parkscomputing.com",
      `tela admin access ${H} -json`,
    ],
    seeAlso: ["tela admin tokens", "tela admin pair-code"],
    run: listAccess,
    commands: [
      command({
        name: "list",
        aliases: ["ls"],
        summary: "List identities with their per-machine permissions.",
        usage: ["tela admin access list [-hub <hub>] [-token <token>] [-json]"],
        description: `Prints IDENTITY, ROLE and MACHINES for every identity of the hub, in the
hub's order. "tela admin access" alone does the same.`,
        flags: listFlags,
        examples: [`tela admin access list ${H}`, `tela admin access list ${H} -json`],
        seeAlso: see,
        run: listAccess,
      }),
      command({
        name: "grant",
        summary: "Set an identity's permissions on a machine.",
        usage: ["tela admin access grant <id> <machine> <perms> [-services <names>]"],
        description: `Sets the identity's permissions on the machine ('*' for every machine) to
<perms>, a comma-separated list of connect, register, manage; permissions not listed are
removed. -services limits connect to the named services (service name, or port-<N>).`,
        flags: {
          ...ADMIN_FLAGS,
          services: {
            type: "string",
            arg: "names",
            usage: "Comma-separated services the connect grant covers (default: all)",
          },
        },
        args: ["<id>", "<machine>", "<perms>"],
        examples: [
          `tela admin access grant alice barn connect ${H}`,
          `tela admin access grant alice barn connect,manage ${H}`,
          `tela admin access grant alice '*' connect ${H}`,
          `tela admin access grant alice barn connect -services SSH ${H}`,
        ],
        seeAlso: see,
        async run({ values, positionals: [id, machine, perms] }) {
          const permissions = parsePermissions(perms);
          const services = values.services === undefined ? undefined : commaList(values.services);
          if (services !== undefined && !permissions.includes("connect")) {
            throw new UsageError(
              "-services applies to the connect permission; add connect to <perms>",
            );
          }
          if (services !== undefined && services.length === 0) {
            throw new UsageError("-services needs at least one service name (e.g. SSH,RDP)");
          }
          const c = await connectAdmin(values);
          if (services) await requireCapability(c, "per-service-access-control", "-services");
          await c.call({
            method: "PUT",
            path: `${identityPath(id)}/machines/${pathEscape(machine)}`,
            body: services ? { permissions, services } : { permissions },
            notFound: identityNotFound(c, id),
          });
        },
      }),
      command({
        name: "revoke",
        summary: "Remove every permission an identity has on a machine.",
        usage: ["tela admin access revoke <id> <machine>"],
        description: `Removes the identity from the machine's register, connect and manage lists.
The identity and its token stay; "tela admin access remove" deletes them.`,
        flags: ADMIN_FLAGS,
        args: ["<id>", "<machine>"],
        examples: [`tela admin access revoke alice barn ${H}`],
        seeAlso: see,
        async run({ values, positionals: [id, machine] }) {
          const c = await connectAdmin(values);
          await c.call({
            method: "DELETE",
            path: `${identityPath(id)}/machines/${pathEscape(machine)}`,
            notFound: (e) =>
              /acl|machine/i.test(e)
                ? `identity "${id}" has no permissions on machine "${machine}" on ${c.hubUrl}; ` +
                  `"tela admin access -hub ${c.hubUrl}" lists them`
                : identityNotFound(c, id)(e),
          });
        },
      }),
      command({
        name: "rename",
        summary: "Rename an identity.",
        usage: ["tela admin access rename <id> <new-id>"],
        description: "Changes the identity's name; its token, role and permissions stay.",
        flags: ADMIN_FLAGS,
        args: ["<id>", "<new-id>"],
        examples: [`tela admin access rename paired-user-1773817343 paul-laptop ${H}`],
        seeAlso: see,
        async run({ values, positionals: [id, newId] }) {
          if (!newId.trim()) throw new UsageError("<new-id> cannot be empty");
          const c = await connectAdmin(values);
          await c.call({
            method: "PATCH",
            path: identityPath(id),
            body: { id: newId },
            notFound: identityNotFound(c, id),
          });
        },
      }),
      command({
        name: "set",
        summary: "Change an identity's role (owner, admin or user).",
        usage: ["tela admin access set <id> -role owner|admin|user"],
        description: `Sets the identity's hub role (PATCH /api/admin/access/<id>); its token and
permissions stay. Owner and admin have every permission on every machine; a user has
the permissions granted with "tela admin access grant". The hub refuses to demote its
only owner: promote another identity to owner first. Needs a hub that accepts role
changes (telahubd v0.15 or later, or this one).`,
        flags: {
          ...ADMIN_FLAGS,
          role: { type: "string", arg: "owner|admin|user", usage: "The new role" },
        },
        args: ["<id>"],
        examples: [
          `tela admin access set alice -role owner ${H}`,
          `tela admin access set bob -role user ${H}`,
        ],
        seeAlso: see,
        async run({ values, positionals: [id] }) {
          const role = values.role?.trim().toLowerCase();
          if (role === undefined || role === "") {
            throw new UsageError("-role is required: owner, admin or user");
          }
          if (role === "viewer") {
            throw new UsageError(
              "-role viewer cannot be assigned: it is reserved for the hub's console token; " +
                "use owner, admin or user",
            );
          }
          if (!["owner", "admin", "user"].includes(role)) {
            const near = suggest(role, ["owner", "admin", "user"]);
            throw new UsageError(
              `-role "${values.role}" is not a role${near ? ` (did you mean ${near}?)` : ""}: ` +
                `use owner, admin or user`,
            );
          }
          const c = await connectAdmin(values);
          try {
            await c.call({
              method: "PATCH",
              path: identityPath(id),
              // A user is an identity without a role (spec §14.1: role "" is user).
              body: { role: role === "user" ? "" : role },
              notFound: identityNotFound(c, id),
            });
          } catch (e) {
            // A v0.14 hub knows only renames: it asks for the id field.
            if (
              e instanceof AdminApiError && e.status === 400 && /id field required/i.test(e.message)
            ) {
              throw new AdminApiError(
                400,
                `${c.hubUrl} cannot change roles (it answered "id field required": role changes ` +
                  `need telahubd v0.15 or later); remove the identity and add it again with ` +
                  `"tela admin tokens add ${id} -role ${role}"`,
              );
            }
            throw e;
          }
        },
      }),
      command({
        name: "remove",
        aliases: ["rm"],
        summary: "Remove an identity, its token and all its permissions.",
        usage: ["tela admin access remove <id> [-force]"],
        description: `Deletes the identity and scrubs its token from every machine's lists; its
token stops working at once and its sessions are closed. Asks for confirmation when stdin
is a terminal (-force skips it).`,
        flags: { ...ADMIN_FLAGS, force: FORCE_FLAG },
        args: ["<id>"],
        examples: [
          `tela admin access remove alice ${H}`,
          `tela admin access remove alice -force ${H}`,
        ],
        seeAlso: see,
        run: ({ values, positionals: [id] }) => removeIdentity(values, id, deps),
      }),
    ],
  });
}

/** `DELETE /api/admin/access/{id}`: `access remove` and `tokens remove` (spec §5.6). */
async function removeIdentity(
  values: AdminValues & { force?: boolean },
  id: string,
  deps?: TelaDeps,
): Promise<void> {
  const c = await connectAdmin(values);
  await confirm(
    `This will permanently delete identity "${id}", its token and its permissions on ${c.hubUrl}.`,
    `identity "${id}" was not removed`,
    values.force,
    deps,
  );
  await c.call({ method: "DELETE", path: identityPath(id), notFound: identityNotFound(c, id) });
}

/**
 * Refuses a request the hub would not understand: `/.well-known/tela` must list `cap` in
 * `capabilities` (spec §14.1: `-services` is sent only to hubs that advertise it).
 * @throws {AdminApiError} naming the flag and the hub.
 */
async function requireCapability(c: Client, cap: string, flag: string): Promise<void> {
  const doc = await c.call<{ capabilities?: unknown }>({
    method: "GET",
    path: "/.well-known/tela",
  });
  const caps = Array.isArray(doc.capabilities) ? doc.capabilities : [];
  if (!caps.includes(cap)) {
    // The hub, not the command line, lacks it: a runtime error (exit 1), not a usage error.
    throw new Error(
      `${c.hubUrl} does not support ${flag} (its /.well-known/tela does not list "${cap}"); ` +
        `grant without ${flag}, or update the hub`,
    );
  }
}

// ------------------------------------------------------------------------------- tokens

/** The token, printed once on stdout; the hint goes to stderr (data vs diagnostics). */
function printNewToken(
  values: { json?: boolean },
  doc: Record<string, unknown>,
  out: (t: string) => void,
  err: (t: string) => void,
): void {
  if (typeof doc.token !== "string" || !doc.token) {
    throw new Error("the hub's answer has no token; run the command again or rotate the identity");
  }
  if (values.json) out(json(doc));
  else out(doc.token);
  err("Save this token: it is shown once");
}

function adminTokens(deps?: TelaDeps): Command {
  const see = ["tela admin tokens", "tela admin rotate", "tela admin access"];
  const listFlags = { ...ADMIN_FLAGS, json: JSON_FLAG };
  return command({
    name: "tokens",
    summary: "Manage token identities (list, add, remove, revoke).",
    usage: [
      "tela admin tokens list [-json]",
      "tela admin tokens add <id> [-role owner|admin] [-expires <when>] [-json]",
      "tela admin tokens remove <id> [-force]",
      "tela admin tokens revoke <id>",
    ],
    description: `Token identities through the hub's /api/admin/tokens: each has a name, a role
(owner, admin or user) and a 64-hex token the hub shows only when it is created or rotated.`,
    examples: [`tela admin tokens list ${H}`, `tela admin tokens add alice ${H}`],
    seeAlso: ["tela admin access", "tela admin rotate"],
    commands: [
      command({
        name: "list",
        aliases: ["ls"],
        summary: "List token identities.",
        usage: ["tela admin tokens list [-hub <hub>] [-token <token>] [-json]"],
        description: `Prints each identity with its role, the first 8 characters of its token,
when it was issued, when it expires, and whether it is active, revoked or expired.`,
        flags: listFlags,
        examples: [`tela admin tokens list ${H}`, `tela admin tokens list ${H} -json`],
        seeAlso: see,
        async run({ values, out, err }) {
          const c = await connectAdmin(values);
          const doc = await c.call<{ tokens?: TokenRow[] }>({
            method: "GET",
            path: "/api/admin/tokens",
          });
          const rows = (Array.isArray(doc.tokens) ? doc.tokens : []).map((r) => ({
            ...r,
            role: roleName(r.role),
          }));
          if (values.json) out(json(rows));
          else if (rows.length === 0) err("No token identities.");
          else out(formatTokens(rows));
        },
      }),
      command({
        name: "add",
        summary: "Add a token identity; prints its token once.",
        usage: ["tela admin tokens add <id> [-role owner|admin] [-expires <when>] [-json]"],
        description: `Creates an identity with a new 64-hex token and prints the token once on
stdout (save it: the hub never shows it again). The role is user unless -role says owner
or admin; give it permissions with "tela admin access grant". -expires sets when the token
stops working: a lifetime (30d, 4w, 1y) or an RFC 3339 time.`,
        flags: {
          ...ADMIN_FLAGS,
          role: { type: "string", arg: "owner|admin", usage: "Hub role (default: user)" },
          expires: {
            type: "string",
            arg: "when",
            usage: "Lifetime (30d, 4w, 1y) or RFC 3339 time (default: never)",
          },
          json: JSON_FLAG,
        },
        args: ["<id>"],
        examples: [
          `tela admin tokens add alice ${H}`,
          `tela admin tokens add bob -role admin ${H}`,
          `tela admin tokens add contractor -expires 30d ${H}`,
        ],
        seeAlso: see,
        async run({ values, positionals: [id], out, err }) {
          if (!id.trim()) throw new UsageError("<id> cannot be empty");
          const role = values.role?.trim().toLowerCase();
          if (role === "viewer") {
            throw new UsageError(
              "-role viewer cannot be assigned: it is reserved for the hub's console token; " +
                "use -role owner, -role admin, or no -role (user)",
            );
          }
          if (role !== undefined && !["owner", "admin", "user", ""].includes(role)) {
            throw new UsageError(`-role "${values.role}" is not a role: use owner, admin or user`);
          }
          const expiresAt = values.expires === undefined
            ? undefined
            : tokenExpiresAt(values.expires);
          const c = await connectAdmin(values);
          const body: Record<string, string> = { id };
          // v0.14 hubs refuse role "user": a user is a token without a role.
          if (role === "owner" || role === "admin") body.role = role;
          if (expiresAt) body.expiresAt = expiresAt;
          const doc = await c.call({ method: "POST", path: "/api/admin/tokens", body });
          // The hub echoes the role asked for, "" for none (spec §5.2): a user.
          printNewToken(values, { ...doc, role: roleName(doc.role ?? role) }, out, err);
        },
      }),
      command({
        name: "remove",
        aliases: ["rm"],
        summary: "Remove a token identity and all its permissions.",
        usage: ["tela admin tokens remove <id> [-force]"],
        description: `Deletes the identity (DELETE /api/admin/access/<id>): its token stops
working at once and its permissions are removed. There is no undo. Asks for confirmation
when stdin is a terminal (-force skips it).`,
        flags: { ...ADMIN_FLAGS, force: FORCE_FLAG },
        args: ["<id>"],
        examples: [`tela admin tokens remove alice ${H}`],
        seeAlso: see,
        run: ({ values, positionals: [id] }) => removeIdentity(values, id, deps),
      }),
      command({
        name: "revoke",
        summary: "Revoke an identity's token, keeping the identity.",
        usage: ["tela admin tokens revoke <id>"],
        description: `Marks the identity's token revoked: it stops working at once and its
sessions are closed, but the identity and its permissions stay listed for the audit trail.
"tela admin rotate" gives it a new working token.`,
        flags: ADMIN_FLAGS,
        args: ["<id>"],
        examples: [`tela admin tokens revoke alice ${H}`],
        seeAlso: see,
        async run({ values, positionals: [id], err }) {
          const c = await connectAdmin(values);
          const doc = await c.call<{ status?: string; revokedAt?: string }>({
            method: "POST",
            path: `/api/admin/tokens/${pathEscape(id)}/revoke`,
            notFound: identityNotFound(c, id),
          });
          if (doc.status === "already-revoked") {
            err(`identity "${id}" was already revoked at ${isoUtc(doc.revokedAt)}`);
          }
        },
      }),
    ],
  });
}

function adminRotate(deps?: TelaDeps): Command {
  return command({
    name: "rotate",
    summary: "Give an identity a new token; prints it once.",
    usage: ["tela admin rotate <id> [-force] [-json]"],
    description: `Replaces the identity's token with a new one and prints it once on stdout.
Its name, role and permissions stay; the old token stops working at once. Asks for
confirmation when stdin is a terminal (-force skips it).`,
    flags: { ...ADMIN_FLAGS, force: FORCE_FLAG, json: JSON_FLAG },
    args: ["<id>"],
    examples: [`tela admin rotate alice ${H}`, `tela admin rotate alice -force ${H} -json`],
    seeAlso: ["tela admin tokens", "tela login"],
    async run({ values, positionals: [id], out, err }) {
      const c = await connectAdmin(values);
      await confirm(
        `This will replace the token of identity "${id}" on ${c.hubUrl}; the old token stops working.`,
        `the token of identity "${id}" was not rotated`,
        values.force,
        deps,
      );
      const doc = await c.call({
        method: "POST",
        path: `/api/admin/rotate/${pathEscape(id)}`,
        notFound: identityNotFound(c, id),
      });
      printNewToken(values, doc, out, err);
    },
  });
}

// ------------------------------------------------------------------------------ portals

function adminPortals(): Command {
  const see = ["tela admin portals", "tela remote"];
  return command({
    name: "portals",
    summary: "Manage the hub's portal registrations (list, add, remove).",
    usage: [
      "tela admin portals list [-json]",
      "tela admin portals add <name> -portal-url <url> [-portal-token <token>] [-hub-url <url>]",
      "tela admin portals remove <name>",
    ],
    description: `Portals are directories that list hubs. The hub registers itself with a
portal and keeps its entry in sync (/api/admin/portals).`,
    examples: [`tela admin portals list ${H}`],
    seeAlso: ["tela remote"],
    commands: [
      command({
        name: "list",
        aliases: ["ls"],
        summary: "List portal registrations.",
        usage: ["tela admin portals list [-hub <hub>] [-token <token>] [-json]"],
        description: `Prints each portal the hub is registered with: its name, URL, hub
directory path and whether the hub holds a sync token for it.`,
        flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
        examples: [`tela admin portals list ${H}`, `tela admin portals list ${H} -json`],
        seeAlso: see,
        async run({ values, out, err }) {
          const c = await connectAdmin(values);
          const doc = await c.call<{ portals?: PortalRow[] }>({
            method: "GET",
            path: "/api/admin/portals",
          });
          const rows = Array.isArray(doc.portals) ? doc.portals : [];
          if (values.json) out(json(rows));
          else if (rows.length === 0) err("No portal registrations.");
          else out(formatPortals(rows));
        },
      }),
      command({
        name: "add",
        summary: "Register the hub with a portal.",
        usage: [
          "tela admin portals add <name> -portal-url <url> [-portal-token <token>] [-hub-url <url>]",
        ],
        description: `The hub registers itself with the portal under its name and stores the
registration as <name>; an existing one is updated. -portal-token is the portal's admin
token (used for this registration only). -hub-url is the URL the portal lists for the hub
(default: -hub). The hub needs a name (name: in telahubd.yaml or TELAHUBD_NAME).`,
        flags: {
          ...ADMIN_FLAGS,
          "portal-url": { type: "string", arg: "url", usage: "Portal URL" },
          "portal-token": { type: "string", arg: "token", usage: "Portal admin token" },
          "hub-url": {
            type: "string",
            arg: "url",
            usage: "Hub URL the portal lists (default: -hub)",
          },
        },
        args: ["<name>"],
        examples: [`tela admin portals add awansaya -portal-url https://awansaya.net ${H}`],
        seeAlso: see,
        async run({ values, positionals: [name] }) {
          const portalUrl = values["portal-url"]?.trim();
          if (!portalUrl) throw new UsageError("-portal-url is required");
          const c = await connectAdmin(values);
          const body: Record<string, string> = {
            name,
            portalUrl,
            hubUrl: values["hub-url"]?.trim() || c.hubUrl,
          };
          if (values["portal-token"]) body.portalToken = values["portal-token"];
          await c.call({ method: "POST", path: "/api/admin/portals", body });
        },
      }),
      command({
        name: "remove",
        aliases: ["rm"],
        summary: "Remove a portal registration.",
        usage: ["tela admin portals remove <name>"],
        description: `Deletes the hub's registration with the named portal from its
configuration (the portal itself is not called).`,
        flags: ADMIN_FLAGS,
        args: ["<name>"],
        examples: [`tela admin portals remove awansaya ${H}`],
        seeAlso: see,
        async run({ values, positionals: [name] }) {
          const c = await connectAdmin(values);
          await c.call({
            method: "DELETE",
            path: `/api/admin/portals/${pathEscape(name)}`,
            notFound: () =>
              `portal "${name}" not found on ${c.hubUrl}; "tela admin portals list -hub ${c.hubUrl}" lists them`,
          });
        },
      }),
    ],
  });
}

// ---------------------------------------------------------------------------- pair-code

function adminPairCode(): Command {
  return command({
    name: "pair-code",
    summary: "Generate a one-time pairing code.",
    usage: [
      "tela admin pair-code <machine> [-type connect|register] [-expires <duration>] [-machines <list>] [-role user|viewer] [-json]",
    ],
    description: `Creates a single-use code that a user ("tela pair") or an agent ("telad pair")
exchanges for a token. A connect code grants connect on <machine>, or on the machines
-machines lists ('*' for every machine); a register code lets one agent register
<machine>. Prints the code, its expiry (UTC) and the command to give the recipient, and
on stderr what the code grants. -expires is 10m to 7d.`,
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
        usage: "Comma-separated machine IDs, or '*' for all (connect type only). " +
          "Default: the machine named",
      },
      role: { type: "string", arg: "user|viewer", usage: "Role of the paired identity" },
      json: JSON_FLAG,
    },
    args: ["<machine>"],
    examples: [
      `tela admin pair-code barn ${H}`,
      `tela admin pair-code barn ${H} -expires 24h -machines barn,nas`,
      `tela admin pair-code barn ${H} -machines '*'`,
      `tela admin pair-code barn ${H} -type register -expires 1h`,
    ],
    seeAlso: ["tela pair", "telad pair", "tela admin access"],
    async run({ values, positionals: [machine], out, err }) {
      const type = values.type ?? "connect";
      if (type !== "connect" && type !== "register") {
        throw new UsageError(`-type "${type}" is not a code type: use connect or register`);
      }
      if (type === "register" && values.machines !== undefined) {
        throw new UsageError(
          "-machines applies to connect codes; a register code is for <machine>",
        );
      }
      const role = values.role?.trim().toLowerCase();
      if (role !== undefined && role !== "user" && role !== "viewer") {
        throw new UsageError(`-role "${values.role}" is not a pairing role: use user or viewer`);
      }
      const expiresIn = pairExpiresIn(values.expires ?? "10m");
      // The book's "grants connect access to machine barn": the named machine unless
      // -machines says otherwise ('*' for all).
      const machines = values.machines === undefined ? [machine] : commaList(values.machines);
      if (machines.length === 0) throw new UsageError("-machines needs at least one machine");
      const c = await connectAdmin(values);
      const online = type === "register" ? await agentOnline(c, machine) : false;
      // A connect code for a name the hub has never seen is most often a typo: say so (the
      // code still works for a machine registered under that name later).
      const named = type === "connect" ? machines.filter((m) => m !== "*") : [];
      const known = named.length ? await knownMachines(c) : undefined;
      const unseen = known ? named.filter((m) => !known.has(m)) : [];
      const body: Record<string, unknown> = { machineId: machine, type, machines, expiresIn };
      if (role) body.role = role;
      const doc = await c.call<PairCodeReply>({
        method: "POST",
        path: "/api/admin/pair-code",
        body,
      });
      if (typeof doc.code !== "string" || !doc.code) {
        throw new Error(`${c.hubUrl} answered without a code; run the command again`);
      }
      const reply = { code: doc.code, type: doc.type || type, expiresAt: doc.expiresAt };
      if (values.json) {
        out(json({
          code: reply.code,
          type: reply.type,
          expiresAt: isoUtc(reply.expiresAt),
          command: pairCommand(reply, c.hubUrl, machine),
        }));
      } else out(formatPairCode(reply, c.hubUrl, machine));
      err(pairCodeGrant(reply, machine, machines, role || "user"));
      if (unseen.length) {
        err(
          `Note: no machine named ${unseen.map((m) => `"${m}"`).join(", ")} is registered on ` +
            `${c.hubUrl}; the code grants connect on it once an agent registers that name ` +
            `(check the spelling with "tela admin agent list -hub ${c.hubUrl}")`,
        );
      }
      if (online && reply.type === "register") {
        err(
          `Warning: "${machine}" is registered and online; redeeming this code gives ` +
            `"${machine}" a new registrant and disconnects the agent now registered as ` +
            `"${machine}"`,
        );
      }
    },
  });
}

/**
 * True when `/api/status` lists `machine` with its agent connected. Any failure counts as
 * not online: the check only adds a warning.
 */
async function agentOnline(c: Client, machine: string): Promise<boolean> {
  return (await knownMachines(c))?.get(machine) ?? false;
}

/**
 * The hub's machines (name → agent connected), or `undefined` when `/api/status` cannot be
 * read: the warnings that use it are best effort.
 */
async function knownMachines(c: Client): Promise<Map<string, boolean> | undefined> {
  try {
    const { status } = await fetchStatus(c);
    const known = new Map<string, boolean>();
    for (const m of status.machines) {
      known.set(m.id, (known.get(m.id) ?? false) || m.agentConnected);
    }
    return known;
  } catch {
    return undefined;
  }
}

// -------------------------------------------------------------------------- agent & hub

/**
 * Refuses a token that is not an owner or admin token before a command that reads a public
 * endpoint (`/api/status`, `/api/history` answer any token, so a user token would get a
 * misleadingly empty answer): `GET /api/admin/tokens` fails as every admin command does
 * (book, *Hub administration*: "User-role tokens are rejected").
 * @throws {AdminApiError} the 401/403 messages of {@link AdminClient.call}.
 */
async function requireAdmin(c: Client): Promise<void> {
  await c.call({ method: "GET", path: "/api/admin/tokens" });
}

/** `GET /api/status` with the admin token: the header fields and the machines. */
async function fetchStatus(c: Client) {
  const doc = await c.call<HubStatusHeader & Record<string, unknown>>({
    method: "GET",
    path: "/api/status",
  });
  return { head: doc as HubStatusHeader, status: decodeHubStatus(doc) };
}

/** What the agent commands' flags include. */
interface AgentValues extends AdminValues {
  machine?: string;
}

/**
 * The admin client and machine of an agent command, with the agent call timeout.
 * @throws {UsageError} without `-machine` (or `TELA_MACHINE`), or without a hub.
 */
async function connectAgent(values: AgentValues): Promise<{ c: Client; machine: string }> {
  const machine = values.machine ?? env("TELA_MACHINE");
  if (!machine) throw new UsageError("-machine is required (or set TELA_MACHINE)");
  return { c: await connectAdmin(values, AGENT_CALL_TIMEOUT_MS), machine };
}

function adminAgent(): Command {
  const see = ["tela admin agent", "tela admin hub"];
  const M = `-machine barn ${H}`;
  const channelFlags = { ...ADMIN_MACHINE_FLAGS, json: JSON_FLAG };
  return command({
    name: "agent",
    summary: "Manage agents remotely through the hub.",
    usage: [
      "tela admin agent list",
      "tela admin agent config -machine <id>",
      "tela admin agent set -machine <id> <json>",
      "tela admin agent logs -machine <id> [-n 100]",
      "tela admin agent restart -machine <id>",
      "tela admin agent update -machine <id> [-version <v>]",
      "tela admin agent channel -machine <id> [set <channel>]",
    ],
    description: `Inspects and manages remote telad instances through the hub, without a
connection to the agent machine: the hub forwards each request over the agent's own
connection (/api/admin/agents) and waits up to 30 seconds for its answer. An offline agent
is an error. Needs an owner or admin token, or a token with the manage permission on the
machine ("tela admin access grant <id> <machine> manage"); "list" needs owner or admin.`,
    examples: [`tela admin agent list ${H}`, `tela admin agent logs ${M} -n 200`],
    seeAlso: ["tela admin hub", "tela admin access", "tela machines"],
    commands: [
      command({
        name: "list",
        aliases: ["ls"],
        summary: "List agents with their status, version, services and sessions.",
        usage: ["tela admin agent list [-hub <hub>] [-token <token>] [-json]"],
        description: `Reads the hub's /api/status and prints one row per machine: whether its
agent is online, the agent's version, its services and its active sessions.`,
        flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
        examples: [`tela admin agent list ${H}`, `tela admin agent list ${H} -json`],
        seeAlso: see,
        async run({ values, out, err }) {
          const c = await connectAdmin(values);
          await requireAdmin(c);
          const { status } = await fetchStatus(c);
          const ms = [...status.machines].sort((a, b) => a.id.localeCompare(b.id));
          if (values.json) out(json(ms.map(machineJson)));
          else if (ms.length === 0) err("No machines registered.");
          else out(formatAgents(status));
        },
      }),
      command({
        name: "config",
        summary: "Print an agent's configuration (tokens left out).",
        usage: ["tela admin agent config -machine <id> [-json]"],
        description: `Asks the agent for the configuration it runs with (config-get): the hub
URL, the path of its telad.yaml and every machine it registers, with services, target,
shares, gateway and upstreams. Tokens are never included. Printed as YAML; -json prints
the agent's answer as JSON.`,
        flags: { ...ADMIN_MACHINE_FLAGS, json: JSON_FLAG },
        examples: [`tela admin agent config ${M}`, `tela admin agent config ${M} -json`],
        seeAlso: ["tela admin agent set", ...see],
        async run({ values, out }) {
          const { c, machine } = await connectAgent(values);
          const r = await agentAction(c, machine, "config-get");
          out(values.json ? json(r.payload ?? {}) : formatAgentConfig(r.payload));
        },
      }),
      command({
        name: "set",
        summary: "Change keys of a machine's entry in the agent's telad.yaml.",
        usage: ["tela admin agent set -machine <id> <json>"],
        description: `Sends <json>, an object of machine keys (displayName, tags, location,
owner, ports, services, target, shares, gateway, upstreams, ...; null removes a key), to the
agent (config-set). The agent changes only those keys of the machine's entry in its
telad.yaml, checks the result as it does at start and writes it; a change that does not
pass is refused with the reason and the file is left as it was. The new metadata shows on
the hub at once; shares, gateway and upstreams need "tela admin agent restart". Prints
nothing unless the agent has something to say.`,
        flags: ADMIN_MACHINE_FLAGS,
        args: ["<json>"],
        examples: [
          `tela admin agent set ${M} '{"displayName":"Barn","tags":["lab"]}'`,
          `tela admin agent set ${M} '{"location":null}'`,
        ],
        seeAlso: ["tela admin agent config", ...see],
        async run({ values, positionals: [text], err }) {
          const fields = parseFieldsArg(text);
          if (typeof fields === "string") throw new UsageError(fields);
          const { c, machine } = await connectAgent(values);
          const r = await agentAction(c, machine, "config-set", { machine, fields });
          if (r.message) err(r.message);
        },
      }),
      command({
        name: "logs",
        summary: "Print an agent's recent log lines.",
        usage: ["tela admin agent logs -machine <id> [-n 100] [-json]"],
        description: `Prints the last -n lines of the agent's log (it keeps 1000), oldest
first, as telad wrote them. -json prints them as a JSON array.`,
        flags: { ...ADMIN_MACHINE_FLAGS, n: LOG_LINES_FLAG, json: JSON_FLAG },
        examples: [`tela admin agent logs ${M}`, `tela admin agent logs ${M} -n 200`],
        seeAlso: ["tela admin hub logs", ...see],
        async run({ values, out }) {
          const n = positiveCount("n", values.n, 100);
          const { c, machine } = await connectAgent(values);
          const r = await agentAction(c, machine, "logs", { lines: n });
          const got = (r.payload as { lines?: unknown } | undefined)?.lines;
          const lines = Array.isArray(got) ? got.map(String) : [];
          if (values.json) out(json(lines));
          else if (lines.length) out(lines.join("\n"));
        },
      }),
      command({
        name: "restart",
        summary: "Restart an agent.",
        usage: ["tela admin agent restart -machine <id>"],
        description: `Asks the agent to restart (restart): it answers, then stops its
machines, starts again with the same command line and registers again; its sessions drop
and reconnect. Under Docker it exits and the container's restart policy starts it. Prints
nothing; "tela admin agent list" shows it online again.`,
        flags: ADMIN_MACHINE_FLAGS,
        examples: [`tela admin agent restart ${M}`],
        seeAlso: see,
        async run({ values }) {
          const { c, machine } = await connectAgent(values);
          await agentAction(c, machine, "restart");
        },
      }),
      command({
        name: "update",
        summary: "Update an agent from its release channel.",
        usage: ["tela admin agent update -machine <id> [-version <v>]"],
        description: `Asks the agent to update itself (update): it downloads the channel's
release (or -version), checks its SHA-256, replaces its binary and restarts. Prints the
agent's answer, e.g. "updating to v0.9.1" or "already running v0.9.1".`,
        flags: { ...ADMIN_MACHINE_FLAGS, version: VERSION_FLAG },
        examples: [`tela admin agent update ${M}`, `tela admin agent update ${M} -version v0.9.1`],
        seeAlso: ["tela admin agent channel", ...see],
        async run({ values, out }) {
          const { c, machine } = await connectAgent(values);
          const body = values.version ? { version: values.version } : {};
          const r = await agentAction(c, machine, "update", body);
          if (r.message) out(r.message);
        },
      }),
      command({
        name: "channel",
        summary: "Show or set an agent's release channel.",
        usage: [
          "tela admin agent channel -machine <id> [-json]",
          "tela admin agent channel -machine <id> set <channel>",
        ],
        description: `Shows the agent's release channel, its manifest URL, the version it runs
and the channel's latest version (update-status). "set" switches the channel (${CHANNEL_ARG});
the agent writes it to its telad.yaml and follows it at its next update.`,
        flags: channelFlags,
        examples: [`tela admin agent channel ${M}`, `tela admin agent channel ${M} set beta`],
        seeAlso: ["tela admin agent update", "tela admin hub channel"],
        async run({ values, out }) {
          const { c, machine } = await connectAgent(values);
          const r = await agentAction(c, machine, "update-status");
          const s = (r.payload ?? {}) as ChannelStatus;
          out(values.json ? json(s) : formatChannel(s));
        },
        commands: [
          command({
            name: "set",
            summary: "Set an agent's release channel.",
            usage: ["tela admin agent channel -machine <id> set <channel>"],
            description: `Switches the agent to <channel> (${CHANNEL_ARG}); the agent saves it
in its telad.yaml (update-channel). Prints the new channel and its manifest URL.`,
            flags: ADMIN_MACHINE_FLAGS,
            args: ["<channel>"],
            examples: [`tela admin agent channel ${M} set stable`],
            seeAlso: ["tela admin agent channel", "tela admin agent update"],
            async run({ values, positionals: [channel], out }) {
              const ch = checkChannel(channel);
              const { c, machine } = await connectAgent(values);
              const r = await agentAction(c, machine, "update-channel", { channel: ch });
              const p = (r.payload ?? {}) as ChannelStatus;
              out(
                `channel: ${p.channel ?? ch}${p.manifestUrl ? `\nmanifest: ${p.manifestUrl}` : ""}`,
              );
            },
          }),
        ],
      }),
    ],
  });
}

/**
 * A channel name as the hubs and agents take it (spec §9.1: trimmed, lowercase letters,
 * digits and hyphens).
 * @throws {UsageError} naming the rule.
 */
function checkChannel(channel: string): string {
  const ch = channel.trim().toLowerCase();
  if (!CHANNEL_NAME.test(ch)) {
    throw new UsageError(
      `"${channel}" is not a channel name: use ${CHANNEL_ARG} (lowercase letters, digits, hyphens)`,
    );
  }
  return ch;
}

function positiveCount(flag: string, n: number | undefined, fallback: number): number {
  if (n === undefined) return fallback;
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`-${flag} ${n} is not a count: give a whole number of 1 or more`);
  }
  return n;
}

function adminHub(): Command {
  const see = ["tela admin hub", "tela admin agent"];
  return command({
    name: "hub",
    summary: "Manage the hub itself (status, logs, restart, update, channel).",
    usage: [
      "tela admin hub status",
      "tela admin hub logs [-n 100]",
      "tela admin hub restart",
      "tela admin hub update [-version <v>]",
      "tela admin hub channel [set <channel>]",
    ],
    description: `The hub's version, uptime and counts, its recent log lines, a restart, a
self-update and its release channel, through its admin API (owner or admin token).`,
    examples: [`tela admin hub status ${H}`],
    seeAlso: ["tela admin agent", "tela status"],
    commands: [
      command({
        name: "status",
        summary: "Print the hub's version, host, uptime and machine counts.",
        usage: ["tela admin hub status [-hub <hub>] [-token <token>] [-json]"],
        description: `Reads the hub's /api/status: its name, ID, version, host and platform,
uptime (and start time, UTC), and how many machines, services and sessions it has.`,
        flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
        examples: [`tela admin hub status ${H}`, `tela admin hub status ${H} -json`],
        seeAlso: see,
        async run({ values, out }) {
          const c = await connectAdmin(values);
          await requireAdmin(c);
          const { head, status } = await fetchStatus(c);
          if (!values.json) return void out(formatHubStatus(head, status, c.hubUrl));
          out(json({
            url: c.hubUrl,
            hubName: head.hubName ?? "",
            hubId: head.hubId ?? "",
            hub: head.hub ?? {},
            machines: status.machines.length,
            online: status.machines.filter((m) => m.agentConnected).length,
            services: status.machines.reduce((n, m) => n + (m.services?.length ?? 0), 0),
            sessions: status.machines.reduce((n, m) => n + Math.max(0, m.sessionCount), 0),
          }));
        },
      }),
      command({
        name: "logs",
        summary: "Print the hub's recent log lines.",
        usage: ["tela admin hub logs [-n 100] [-json]"],
        description: `Prints the last -n lines of the hub's log ring (at most 1000), oldest
first, as the hub wrote them (/api/admin/logs).`,
        flags: { ...ADMIN_FLAGS, n: LOG_LINES_FLAG, json: JSON_FLAG },
        examples: [`tela admin hub logs ${H}`, `tela admin hub logs ${H} -n 200`],
        seeAlso: see,
        async run({ values, out }) {
          const n = positiveCount("n", values.n, 100);
          const c = await connectAdmin(values);
          const doc = await c.call<{ lines?: string[] }>({
            method: "GET",
            path: `/api/admin/logs?lines=${n}`,
          });
          const lines = Array.isArray(doc.lines) ? doc.lines : [];
          if (values.json) out(json(lines));
          else if (lines.length) out(lines.join("\n"));
        },
      }),
      command({
        name: "restart",
        summary: "Restart the hub.",
        usage: ["tela admin hub restart [-hub <hub>] [-token <token>]"],
        description: `Asks the hub to restart itself (/api/admin/restart). Live sessions drop
and reconnect. Prints nothing.`,
        flags: ADMIN_FLAGS,
        examples: [`tela admin hub restart ${H}`],
        seeAlso: see,
        async run({ values }) {
          const c = await connectAdmin(values);
          await c.call({ method: "POST", path: "/api/admin/restart" });
        },
      }),
      command({
        name: "update",
        summary: "Update the hub from its release channel.",
        usage: ["tela admin hub update [-version <v>] [-hub <hub>] [-token <token>]"],
        description: `Asks the hub to update itself (/api/admin/update): it downloads the
channel's release (or -version), checks its SHA-256, replaces its binary and restarts.
Prints the hub's answer, e.g. "updating to v0.9.1" or "already running v0.9.1". A hub
refuses to move to an older release unless -version names it.`,
        flags: { ...ADMIN_FLAGS, version: VERSION_FLAG },
        examples: [`tela admin hub update ${H}`, `tela admin hub update ${H} -version v0.9.1`],
        seeAlso: ["tela admin hub channel", ...see],
        async run({ values, out }) {
          const c = await connectAdmin(values);
          const doc = await c.call<{ message?: string }>({
            method: "POST",
            path: "/api/admin/update",
            body: values.version ? { version: values.version } : {},
            notFound: () => noSelfUpdate(c),
          });
          if (doc.message) out(doc.message);
        },
      }),
      command({
        name: "channel",
        summary: "Show or set the hub's release channel.",
        usage: ["tela admin hub channel [-json]", "tela admin hub channel set <channel>"],
        description: `Shows the hub's release channel, its manifest URL, the version it runs,
the channel's latest version and the hub's channel sources (/api/admin/update). "set"
switches the channel (${CHANNEL_ARG}); the hub saves it and follows it at its next update.`,
        flags: { ...ADMIN_FLAGS, json: JSON_FLAG },
        examples: [`tela admin hub channel ${H}`, `tela admin hub channel set beta ${H}`],
        seeAlso: ["tela admin hub update", "tela admin agent channel"],
        async run({ values, out }) {
          const c = await connectAdmin(values);
          const s = await c.call<ChannelStatus>({
            method: "GET",
            path: "/api/admin/update",
            notFound: () => noSelfUpdate(c),
          });
          out(values.json ? json(s) : formatChannel(s));
        },
        commands: [
          command({
            name: "set",
            summary: "Set the hub's release channel.",
            usage: ["tela admin hub channel set <channel> [-hub <hub>] [-token <token>]"],
            description: `Switches the hub to <channel> (${CHANNEL_ARG}); the hub saves it in
its config (PATCH /api/admin/update). Prints the new channel and its manifest URL.`,
            flags: ADMIN_FLAGS,
            args: ["<channel>"],
            examples: [`tela admin hub channel set stable ${H}`],
            seeAlso: ["tela admin hub channel", "tela admin hub update"],
            async run({ values, positionals: [channel], out }) {
              const ch = checkChannel(channel);
              const c = await connectAdmin(values);
              const p = await c.call<ChannelStatus>({
                method: "PATCH",
                path: "/api/admin/update",
                body: { channel: ch },
                notFound: () => noSelfUpdate(c),
              });
              out(
                `channel: ${p.channel ?? ch}${p.manifestUrl ? `\nmanifest: ${p.manifestUrl}` : ""}`,
              );
            },
          }),
        ],
      }),
    ],
  });
}

/** The 404 of a hub without `/api/admin/update` (a build without self-update). */
function noSelfUpdate(c: Client): string {
  return `${c.hubUrl} does not offer self-update (/api/admin/update answered 404): this ` +
    `telahubd has no release channels; update it on the hub machine (see "telahubd update -h")`;
}

function adminHistory(): Command {
  return command({
    name: "history",
    summary: "Print the hub's audit trail: connections, registrations, admin changes.",
    usage: ["tela admin history [-machine <name>] [-n <count>] [-json]"],
    description: `Reads the hub's event history (/api/history), newest first: agent
registrations and disconnects, client sessions, denied attempts and admin changes, each
with the identity that caused it. -machine keeps one machine's events; -n the newest n.`,
    flags: {
      ...ADMIN_FLAGS,
      machine: { type: "string", arg: "name", usage: "Only this machine's events" },
      n: { type: "number", usage: "Number of events (newest first)", default: 100 },
      json: JSON_FLAG,
    },
    examples: [`tela admin history ${H}`, `tela admin history ${H} -machine barn -n 20`],
    seeAlso: ["tela admin access", "tela admin hub logs"],
    async run({ values, out, err }) {
      const n = positiveCount("n", values.n, 100);
      const c = await connectAdmin(values);
      await requireAdmin(c);
      const doc = await c.call<{ events?: HistoryEvent[] }>({
        method: "GET",
        path: "/api/history",
      });
      let events = Array.isArray(doc.events) ? doc.events : [];
      if (values.machine !== undefined) {
        events = events.filter((e) => e.machineId === values.machine);
      }
      events = events.slice(0, n);
      if (values.json) out(json(events));
      else if (events.length === 0) err("No events.");
      else out(formatHistory(events));
    },
  });
}

/**
 * `tela admin ...` (book, *Hub administration*, Appendix A): remote hub management with an
 * owner or admin token. Errors: usage (exit 2) for missing or malformed arguments, checked
 * before any request; `AdminApiError` / `HubDialError` (exit 1) for what the hub answered or
 * could not; `ConfigError` (exit 3) for a malformed `hubs.yaml` or credential store.
 * @param deps where confirmation answers are read from at a terminal (tests inject none).
 */
export function adminCommand(deps?: TelaDeps): Command {
  return command({
    name: "admin",
    summary: "Manage a hub remotely: access, tokens, portals, pairing, agents, the hub.",
    usage: ["tela admin <resource> <action> [flags] [args]"],
    description: `Remote hub management through the hub's admin API; needs an owner or admin token.
Token resolution order: -token, TELA_OWNER_TOKEN, TELA_TOKEN, the credential store ("tela
login"). The hub is -hub or TELA_HUB (a URL or a short name). Changes apply at once.`,
    examples: [
      "tela admin access -hub wss://owlsnest.parkscomputing.com",
      `tela admin tokens add alice ${H}`,
      `tela admin access grant alice barn connect ${H}`,
    ],
    seeAlso: ["tela login", "tela pair", "telahubd user"],
    commands: [
      adminAccess(deps),
      adminTokens(deps),
      adminRotate(deps),
      adminPortals(),
      adminPairCode(),
      adminAgent(),
      adminHub(),
      adminHistory(),
    ],
  });
}
