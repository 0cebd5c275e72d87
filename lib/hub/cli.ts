/**
 * `telahubd`'s command tree (book, Appendix A; *TDL for the command line*). `telahubd`
 * with flags (or none) runs the hub in the foreground until SIGINT/SIGTERM; every word
 * after it must name a command (`user`, `portal`, `service`, `channel`, `update`, `health`,
 * `version`, `help`), so a misspelt command never starts a second hub. `telahubd help` and
 * `telahubd -h` print the help. `cmd/telahubd.ts` only calls {@link telahubdMain}.
 *
 * Set `TELAHUBD_PORT=0` / `TELAHUBD_UDP_PORT=0` to take free ports; the hub prints
 * `telahubd listening on [<address>]:<port> (udp relay :<udpPort>)` as a log line on stderr once serving
 * (stdout carries only the first-start owner-token banner).
 * @module
 */
import {
  channelCommand,
  type CliIo,
  type Command,
  command,
  type FlagSpec,
  helpCommand,
  processIo,
  runCli,
  serviceCommand,
  updateCommand,
  UsageError,
  versionCommand,
} from "../cli/mod.ts";
import { setLogLevel } from "../log/mod.ts";
import { type HubConfigFile, isListenAddress } from "./config.ts";
import { checkHealth, healthTimeoutMs } from "./health.ts";
import { HUB_VERSION } from "./version.ts";
import { platformString } from "../host/version.ts";
import { startHub } from "./server.ts";
import {
  bootstrapUsers,
  editConfig,
  explain,
  type IssuedToken,
  listUsers,
  machinesCell,
  parseExpires,
  showOwnerToken,
  showViewerToken,
  userConfigPath,
} from "./user.ts";
import {
  createIdentity,
  grant,
  removeIdentity,
  revokePermissions,
  rotateIdentity,
} from "./access/ops.ts";
import { AccessError } from "./access/types.ts";
import { spawnSuccessor } from "./restart.ts";
import { PortalRegistrationError, type PortalSyncResult } from "./portal_client.ts";
import {
  portalAdd,
  PortalCommandError,
  portalList,
  portalRemove,
  portalSync,
} from "./portal_cli.ts";
import { portalServeCommand } from "../portal/cli.ts";

/** Drain budget of a restart, ms: in-flight requests finish, idle connections do not wait. */
const RESTART_DRAIN_MS = 2000;

const CONFIG_FLAG = {
  type: "string",
  arg: "path",
  usage: "Path to telahubd.yaml (default: TELAHUBD_CONFIG, else ./data/telahubd.yaml if " +
    "present, else /etc/tela/telahubd.yaml)",
} as const satisfies FlagSpec;
const JSON_FLAG = { type: "boolean", usage: "Print JSON" } as const;

const FLAGS = {
  config: CONFIG_FLAG,
  port: {
    type: "number",
    usage: "HTTP+WS listen port (over TELAHUBD_PORT and the config). Default: 80",
  },
  "udp-port": {
    type: "number",
    usage: "UDP relay port (over TELAHUBD_UDP_PORT and the config). Default: 41820",
  },
  listen: {
    type: "string",
    arg: "addr",
    usage: "Address to listen on, e.g. 127.0.0.1 (over TELAHUBD_LISTEN and the config). " +
      "Default: 0.0.0.0",
  },
  v: { type: "boolean", usage: "Verbose logging" },
  open: {
    type: "boolean",
    usage: "Run in open mode (no authentication) when the config has no tokens",
  },
} as const;

/** The Go `GOARCH` spelling of this machine's architecture. */
/** Runs the hub until SIGINT/SIGTERM. */
async function runHub(values: {
  config?: string;
  port?: number;
  "udp-port"?: number;
  listen?: string;
  v?: boolean;
  open?: boolean;
}, io: CliIo): Promise<number> {
  for (const name of ["port", "udp-port"] as const) {
    const p = values[name];
    if (p !== undefined && !(Number.isInteger(p) && p >= 0 && p <= 65535)) {
      throw new UsageError(`-${name} ${p} is not a port: use 0..65535`);
    }
  }
  const listen = values.listen;
  if (listen !== undefined && !isListenAddress(listen)) {
    throw new UsageError(`-listen ${listen} is not an IP address: use e.g. 0.0.0.0 or 127.0.0.1`);
  }
  if (values.v) setLogLevel("debug");
  const done = Promise.withResolvers<number>();
  let signalled = false;
  // POST /api/admin/restart: close the listeners (a short drain), then start the successor
  // with the same arguments and exit 0 (spec §5.8; lib/hub/restart.ts).
  const restart = () => {
    if (signalled) return;
    signalled = true;
    hub.shutdown(RESTART_DRAIN_MS).then(() => {
      try {
        spawnSuccessor();
        done.resolve(0);
      } catch (err) {
        io.err(`telahubd: restart failed: ${(err as Error).message}`);
        done.resolve(1);
      }
    }, () => done.resolve(1));
  };
  const hub = await startHub({
    configPath: values.config,
    open: !!values.open,
    port: values.port,
    udpPort: values["udp-port"],
    listen,
    restart,
  });
  const onSignal = () => {
    if (signalled) {
      io.err("telahubd: second signal, exiting now");
      Deno.exit(1);
    }
    signalled = true;
    hub.shutdown().then(() => done.resolve(0), () => done.resolve(1));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", onSignal);
  return await done.promise;
}

/** `telahubd health`: exit 0 iff the hub's `/.well-known/tela` answers (Docker health check). */
const healthCommand = command({
  name: "health",
  summary: "Check that a hub on this machine answers (the Docker health check).",
  usage: ["telahubd health [-port <n>] [-timeout 3s] [-url <url>] [-json]"],
  description: `Fetches http://127.0.0.1:<port>/.well-known/tela (or -url) and exits 0 when it
answers with a protocol version, 1 otherwise. The port is -port, else TELAHUBD_PORT, else 80.`,
  flags: {
    port: { type: "number", usage: "Hub port (default: TELAHUBD_PORT, else 80)" },
    timeout: { type: "string", arg: "duration", usage: "Give up after this long", default: "3s" },
    url: {
      type: "string",
      arg: "url",
      usage: "Full URL to probe instead of http://127.0.0.1:<port>/.well-known/tela",
    },
    json: JSON_FLAG,
  },
  examples: ["telahubd health", "telahubd health -port 8080 -timeout 1s"],
  seeAlso: ["telahubd version"],
  async run({ values, out, err }) {
    const envPort = Number(Deno.env.get("TELAHUBD_PORT") ?? "");
    const port = values.port ?? (envPort > 0 ? envPort : 80);
    const r = await checkHealth({
      url: values.url,
      port,
      timeoutMs: healthTimeoutMs(values.timeout),
    });
    if (values.json) out(JSON.stringify({ ok: r.ok, message: r.line }, null, 2));
    else if (r.ok) out(r.line);
    else err(`Error: ${r.line}`);
    return r.ok ? 0 : 1;
  },
});

function showToken(role: "owner" | "viewer"): Command {
  const what = role === "owner" ? "owner token" : "console viewer token";
  return command({
    name: `show-${role}`,
    summary: `Print the ${what}.`,
    usage: [`telahubd user show-${role} [-config <path>] [-json]`],
    description: `Prints the token of the first identity with hub role "${role}" in the hub's
config and a newline, nothing else (scripts and TelaVisor's Docker helper read it). Exits 1
with "no ${role} token found" when there is none.`,
    flags: { config: CONFIG_FLAG, json: JSON_FLAG },
    examples: [
      `telahubd user show-${role}`,
      `docker exec telahubd telahubd user show-${role} -config /app/data/telahubd.yaml`,
    ],
    seeAlso: [role === "owner" ? "telahubd user show-viewer" : "telahubd user show-owner"],
    async run({ values, out }) {
      const path = userConfigPath(values.config);
      const token = role === "owner" ? await showOwnerToken(path) : await showViewerToken(path);
      out(values.json ? JSON.stringify({ role, token }, null, 2) : token);
    },
  });
}

const LIVE = "A running hub applies the change within a second (it watches its config " +
  "file); no restart is needed.";

/** `-perms connect,register,manage` (our extension of grant/revoke). */
function permsOf(v: string | undefined): string[] {
  if (v === undefined) return ["connect"];
  const list = v.split(",").map((x) => x.trim()).filter((x) => x);
  for (const p of list) {
    if (!["register", "connect", "manage"].includes(p)) {
      throw new UsageError(
        `-perms ${JSON.stringify(v)}: "${p}" is not a permission; use register, connect ` +
          "and/or manage, comma-separated",
      );
    }
  }
  if (!list.length) throw new UsageError("-perms is empty; use e.g. -perms connect,manage");
  return list;
}

/** Runs an edit; an {@link AccessError} becomes a message naming the thing, cause and fix. */
async function edit<T>(
  path: string,
  id: string,
  change: (cfg: HubConfigFile, now: number) => T | undefined,
  machine?: string,
): Promise<T | undefined> {
  try {
    return await editConfig(path, change);
  } catch (err) {
    if (err instanceof AccessError) throw explain(err, id, path, machine);
    throw err;
  }
}

function printIssued(
  out: (s: string) => void,
  err: (s: string) => void,
  json: boolean | undefined,
  t: IssuedToken,
  what: string,
): void {
  if (json) {
    out(JSON.stringify(t, null, 2));
    return;
  }
  out(t.token);
  err(`${what}; save the token now: it is not shown again. ${LIVE}`);
}

function userCommand(): Command {
  const see = ["telahubd user list", "tela admin access"];
  const idArg = (
    name: string,
    summary: string,
    description: string,
    example: string,
    run: (id: string, path: string, io: CliIo, json?: boolean) => Promise<void>,
  ) =>
    command({
      name,
      summary,
      usage: [`telahubd user ${name} <id> [-config <path>] [-json]`],
      description: `${description} ${LIVE}`,
      flags: { config: CONFIG_FLAG, json: JSON_FLAG },
      args: ["<id>"],
      examples: [example],
      seeAlso: see,
      async run({ values, positionals, out, err }) {
        await run(positionals[0], userConfigPath(values.config), { out, err }, values.json);
      },
    });
  return command({
    name: "user",
    summary: "Manage the hub's token identities on this machine.",
    usage: ["telahubd user <action> [-config <path>] [args]"],
    description: `Local token management on the hub machine: reads and writes the hub's config
(-config, else TELAHUBD_CONFIG, else ./data/telahubd.yaml, else /etc/tela/telahubd.yaml),
atomically and with the same rules as the admin API. ${LIVE}`,
    examples: [
      "telahubd user add alice -role admin -expires 90d",
      "telahubd user grant alice barn",
      "telahubd user list -json",
    ],
    seeAlso: ["tela admin tokens", "telahubd portal"],
    commands: [
      command({
        name: "bootstrap",
        summary: "Generate the first owner token (printed once).",
        usage: ["telahubd user bootstrap [-config <path>] [-json]"],
        description: `Adds the owner identity, the console viewer and connect on every machine
for the owner to a config without tokens, and prints the owner token once on stdout. Refused
when the config already has tokens. ${LIVE}`,
        flags: { config: CONFIG_FLAG, json: JSON_FLAG },
        examples: ["sudo telahubd user bootstrap"],
        seeAlso: ["telahubd user show-owner"],
        async run({ values, out, err }) {
          const path = userConfigPath(values.config);
          const t = await bootstrapUsers(path);
          printIssued(out, err, values.json, t, `Auth bootstrapped in ${path}`);
        },
      }),
      command({
        name: "add",
        summary: "Add a token identity; prints its token once.",
        usage: [
          "telahubd user add <id> [-role owner|admin|user] [-expires 30d|4w|1y|<time>] " +
          "[-config <path>] [-json]",
        ],
        description: `Adds an identity with a new 64-hex token and prints the token on stdout
(the only time it is shown). Without -role it is a user, who needs grants (telahubd user
grant) to reach machines. -expires sets a lifetime (h, d, w, y) or an RFC 3339 time after
which the token fails every check. ${LIVE}`,
        flags: {
          config: CONFIG_FLAG,
          role: { type: "string", arg: "owner|admin|user", usage: "Hub role (default user)" },
          expires: {
            type: "string",
            arg: "lifetime",
            usage: "Token lifetime (30d, 4w, 1y) or RFC 3339 expiry time (default never)",
          },
          json: JSON_FLAG,
        },
        args: ["<id>"],
        examples: [
          "telahubd user add alice -role admin",
          "telahubd user add tech-bob -expires 30d",
        ],
        seeAlso: ["telahubd user grant", "telahubd user list"],
        async run({ values, positionals, out, err }) {
          const id = positionals[0];
          const role = values.role ?? "";
          if (!["", "owner", "admin", "user"].includes(role)) {
            throw new UsageError(
              `-role ${JSON.stringify(role)} is not a role you can add: use owner, admin or ` +
                "user (the console viewer is created by the hub)",
            );
          }
          const expiresAt = values.expires !== undefined ? parseExpires(values.expires) : undefined;
          const path = userConfigPath(values.config);
          const e = await edit(
            path,
            id,
            (cfg, now) => createIdentity(cfg.auth, { id, role, expiresAt }, now),
          );
          const t: IssuedToken = { id, role: e!.hubRole || "user", token: e!.token };
          if (expiresAt) t.expiresAt = expiresAt;
          printIssued(out, err, values.json, t, `Added identity "${id}" to ${path}`);
        },
      }),
      command({
        name: "list",
        summary: "List token identities.",
        usage: ["telahubd user list [-config <path>] [-json]"],
        description: `Lists the identities of the hub's config: id, role, the first 8 characters
of the token, whether it is active, revoked or expired, and its grants (MACHINES, as tela admin
access shows them: "* (all permissions)" for owners and admins, else e.g. "barn: connect |
*: manage"). -json prints an array of {id, role, tokenPreview, status, issuedAt, expiresAt,
revokedAt, machines: [{machineId, permissions, services?}]}.`,
        flags: { config: CONFIG_FLAG, json: JSON_FLAG },
        examples: ["telahubd user list", "telahubd user list -json"],
        seeAlso: ["telahubd user add"],
        async run({ values, out, err }) {
          const path = userConfigPath(values.config);
          const rows = await listUsers(path);
          if (values.json) out(JSON.stringify(rows, null, 2));
          if (!rows.length) {
            err(`No identities in ${path}; create the first owner with: telahubd user bootstrap`);
            return;
          }
          if (values.json) return;
          const table = [["ID", "ROLE", "TOKEN", "STATUS", "EXPIRES", "MACHINES"]].concat(
            rows.map((r) => [
              r.id,
              r.role,
              r.tokenPreview,
              r.status,
              r.expiresAt ?? "-",
              machinesCell(r),
            ]),
          );
          const w = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
          out(table.map((r) => r.map((c, i) => c.padEnd(w[i])).join("  ").trimEnd()).join("\n"));
        },
      }),
      command({
        name: "grant",
        summary: "Grant an identity connect access to a machine.",
        usage: [
          "telahubd user grant <id> <machine> [-perms connect,register,manage] [-config <path>]",
        ],
        description: `Gives the identity connect on the machine (or on every machine with "*");
granting again changes nothing. -perms gives register and/or manage as well or instead. On a
machine with no registrant, the first granted identity that registers it becomes its registrant.
${LIVE}`,
        flags: {
          config: CONFIG_FLAG,
          perms: {
            type: "string",
            arg: "list",
            usage: "Permissions to give, comma-separated (default connect)",
          },
        },
        args: ["<id>", "<machine>"],
        examples: [
          "telahubd user grant alice barn",
          "telahubd user grant barn-agent barn -perms register",
        ],
        seeAlso: ["telahubd user revoke", "tela admin access grant"],
        async run({ values, positionals, err }) {
          const [id, machine] = positionals;
          const perms = permsOf(values.perms);
          const path = userConfigPath(values.config);
          const changed = await edit(
            path,
            id,
            (cfg) => grant(cfg.auth, id, machine, perms),
            machine,
          );
          // Success is silent (book, TDL); a grant that was already there is noted on stderr.
          if (!changed) {
            err(`"${id}" already has ${perms.join(",")} on "${machine}"; nothing changed`);
          }
        },
      }),
      command({
        name: "revoke",
        summary: "Revoke an identity's connect access to a machine.",
        usage: [
          "telahubd user revoke <id> <machine> [-perms connect,register,manage] [-config <path>]",
        ],
        description: `Takes connect (or the -perms listed) on the machine from the identity; its
open sessions to that machine are cut. Fails when it held none of them. ${LIVE}`,
        flags: {
          config: CONFIG_FLAG,
          perms: {
            type: "string",
            arg: "list",
            usage: "Permissions to take, comma-separated (default connect)",
          },
        },
        args: ["<id>", "<machine>"],
        examples: ["telahubd user revoke alice barn"],
        seeAlso: ["telahubd user grant", "tela admin access revoke"],
        async run({ values, positionals }) {
          const [id, machine] = positionals;
          const perms = permsOf(values.perms);
          const path = userConfigPath(values.config);
          await edit(path, id, (cfg) => {
            revokePermissions(cfg.auth, id, machine, perms);
            return true;
          }, machine);
        },
      }),
      idArg(
        "rotate",
        "Regenerate the token of an identity; prints it once.",
        `Gives the identity a new token (printed on stdout once) and moves its grants to it;
the old token stops working and its live connections are cut.`,
        "telahubd user rotate alice",
        async (id, path, io, json) => {
          const e = await edit(path, id, (cfg, now) => rotateIdentity(cfg.auth, id, now));
          printIssued(io.out, io.err, json, {
            id,
            role: e!.hubRole || "user",
            token: e!.token,
          }, `Rotated the token of "${id}" in ${path}`);
        },
      ),
      idArg(
        "remove",
        "Remove an identity.",
        `Deletes the identity and removes its token from every machine's register, connect and
manage lists; its live connections are cut. The last owner cannot be removed.`,
        "telahubd user remove alice",
        async (id, path, io, json) => {
          await edit(path, id, (cfg, now) => removeIdentity(cfg.auth, id, now));
          if (json) io.out(JSON.stringify({ id, status: "removed" }, null, 2));
        },
      ),
      showToken("owner"),
      showToken("viewer"),
    ],
  });
}

const HUB_URL_FLAG = {
  type: "string",
  arg: "url",
  usage: "The hub's public URL, e.g. https://hub.example.com (default: TELAHUBD_PUBLIC_URL)",
} as const satisfies FlagSpec;

function printSync(results: PortalSyncResult[], out: (s: string) => void, json?: boolean) {
  if (json) out(JSON.stringify({ portals: results }, null, 2));
  else {
    for (const r of results) {
      out(r.ok ? `portal "${r.name}": synced` : `portal "${r.name}": FAILED: ${r.error}`);
    }
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

function portalCommand(): Command {
  const see = ["telahubd portal list", "tela admin portals", "tela remote"];
  return command({
    name: "portal",
    summary: "Manage the hub's portal registrations on this machine.",
    usage: ["telahubd portal <add|list|remove|sync|serve> [-config <path>] [args]"],
    description:
      `Registers the hub with portals (hub directories) so clients with a "tela remote" find
it by name. add, list, remove and sync edit the hub's config file (-config, else
TELAHUBD_CONFIG, else ./data/telahubd.yaml, else /etc/tela/telahubd.yaml); a running hub
picks the change up. serve runs a small portal (hub directory) of its own.`,
    examples: [
      "telahubd portal add work https://directory.example.com -hub-url https://hub.example.com",
      "telahubd portal list",
    ],
    seeAlso: ["tela admin portals", "telahubd user", "tela remote"],
    commands: [
      command({
        name: "add",
        summary: "Register the hub with a portal.",
        usage: [
          "telahubd portal add <name> <url> [-hub-url <url>] [-token <portal-token>] [-config <path>]",
        ],
        description:
          `Discovers the portal's hub directory (<url>/.well-known/tela), registers the hub
there (its name, public URL, hubId and console viewer token) and stores the portal's sync
token under portals.<name> in the config. The portal token (-token, else
TELAHUBD_PORTAL_TOKEN) is used for this call only and never stored. The hub needs a name
(name: or TELAHUBD_NAME). Registering again under the same name replaces the entry.`,
        flags: {
          config: CONFIG_FLAG,
          "hub-url": HUB_URL_FLAG,
          token: {
            type: "string",
            arg: "token",
            usage: "Portal admin token for the registration (default: TELAHUBD_PORTAL_TOKEN)",
          },
          json: JSON_FLAG,
        },
        args: ["<name>", "<url>"],
        examples: [
          "telahubd portal add awan https://awansaya.net -hub-url https://hub.example.com",
        ],
        seeAlso: see,
        async run({ values, positionals, out }) {
          const path = userConfigPath(values.config);
          let r;
          try {
            r = await portalAdd(path, positionals[0], positionals[1], {
              hubUrl: values["hub-url"],
              portalToken: values.token ?? Deno.env.get("TELAHUBD_PORTAL_TOKEN"),
            });
          } catch (e) {
            if (e instanceof PortalRegistrationError) {
              throw new PortalCommandError(
                `registering with ${positionals[1]} failed: ${e.message}`,
              );
            }
            throw e;
          }
          if (values.json) out(JSON.stringify(r, null, 2));
          else {
            out(
              `Registered with portal "${r.name}" at ${r.url} as ${r.hubUrl} ` +
                `(hub directory ${r.hubDirectory}, ${r.status}) in ${path}`,
            );
          }
        },
      }),
      command({
        name: "list",
        aliases: ["ls"],
        summary: "List portal registrations.",
        usage: ["telahubd portal list [-json] [-config <path>]"],
        description: `Prints each registration of the config: name, portal URL, hub directory,
whether a sync token is held, and the hub URL it announces.`,
        flags: { config: CONFIG_FLAG, json: JSON_FLAG },
        examples: ["telahubd portal list", "telahubd portal list -json"],
        seeAlso: ["telahubd portal add"],
        async run({ values, out, err }) {
          const rows = await portalList(userConfigPath(values.config));
          if (values.json) return void out(JSON.stringify({ portals: rows }, null, 2));
          if (!rows.length) {
            return void err(
              "No portal registrations.\nAdd one with: telahubd portal add <name> <url>",
            );
          }
          const table = [["NAME", "URL", "DIRECTORY", "SYNC", "HUB URL"]].concat(
            rows.map((
              p,
            ) => [p.name, p.url, p.hubDirectory, p.hasSyncToken ? "yes" : "no", p.hubUrl || "-"]),
          );
          const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
          out(
            table.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("   ").trimEnd()).join(
              "\n",
            ),
          );
        },
      }),
      command({
        name: "remove",
        aliases: ["rm"],
        summary: "Remove a portal registration.",
        usage: ["telahubd portal remove <name> [-config <path>]"],
        description: `Forgets the registration in the config (nothing is sent to the portal; remove
the hub there too). ${LIVE}`,
        flags: { config: CONFIG_FLAG },
        args: ["<name>"],
        examples: ["telahubd portal remove awan"],
        seeAlso: see,
        async run({ values, positionals, out }) {
          const path = userConfigPath(values.config);
          await portalRemove(path, positionals[0]);
          out(`Removed portal "${positionals[0]}" from ${path}`);
        },
      }),
      command({
        name: "sync",
        summary: "Push the viewer token to every registered portal.",
        usage: ["telahubd portal sync [-hub-url <url>] [-config <path>] [-json]"],
        description: `Sends the console viewer token to every portal holding a sync token
(PATCH <portal><directory>/sync), with the hub's public URL. After the hub moved, pass the
new URL with -hub-url (or TELAHUBD_PUBLIC_URL): it is stored in every registration and the
portals list the hub there. Exit 1 when a portal refused or could not be reached.`,
        flags: { config: CONFIG_FLAG, "hub-url": HUB_URL_FLAG, json: JSON_FLAG },
        examples: ["telahubd portal sync", "telahubd portal sync -hub-url https://new.example.com"],
        seeAlso: see,
        async run({ values, out }) {
          const results = await portalSync(userConfigPath(values.config), {
            hubUrl: values["hub-url"],
          });
          return printSync(results, out, values.json);
        },
      }),
      portalServeCommand(),
    ],
  });
}

/** The whole `telahubd` tree: the root runs the hub. */
export function telahubdCommand(): Command {
  return command({
    name: "telahubd",
    summary: "Run a Tela hub: relay encrypted sessions between agents and clients.",
    usage: [
      "telahubd [-config <path>] [-port <n>] [-udp-port <n>] [-listen <addr>] [-open] [-v]",
      "telahubd <command> [flags] [args]",
    ],
    description:
      `The hub server. Without a command it runs in the foreground until Ctrl-C: it accepts
WebSocket connections from telad and tela, relays their WireGuard traffic, and serves the
console and /api/status. Config: -config, else TELAHUBD_CONFIG, else ./data/telahubd.yaml
if present, else /etc/tela/telahubd.yaml. Environment (TELAHUBD_PORT, TELAHUBD_UDP_PORT, ...) overrides the
file, flags override both. A word after "telahubd" must be one of the commands below;
"telahubd help" or "telahubd -h" prints this help.`,
    flags: FLAGS,
    examples: [
      "telahubd -config /etc/tela/telahubd.yaml",
      "TELAHUBD_PORT=8080 telahubd -v",
      "telahubd user show-owner",
    ],
    seeAlso: ["telahubd user", "telahubd health", "tela status"],
    run: ({ values, out, err }) => runHub(values, { out, err }),
    commands: [
      userCommand(),
      portalCommand(),
      serviceCommand("telahubd", {}, false),
      channelCommand("telahubd", true),
      updateCommand("telahubd"),
      healthCommand,
      versionCommand("telahubd", HUB_VERSION, platformString()),
      helpCommand("telahubd"),
    ],
  });
}

/**
 * Runs `telahubd` with `args` (the command line without the program name).
 * @returns exit status: 0 after a clean stop, 1 runtime error, 2 usage error (unknown
 *   command or flag, bad port), 3 configuration error (book, *TDL for the command line*).
 * @param args the command line after the program name (`Deno.args`).
 * @param io where data and errors go (default stdout, stderr). Never throws.
 */
export async function telahubdMain(args: string[], io: CliIo = processIo): Promise<number> {
  return await runCli(telahubdCommand(), args, io);
}
