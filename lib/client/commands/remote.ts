/**
 * `tela remote add|list|remove` (book, *Hub directories and portals*; Appendix A `tela
 * remote`; Appendix B `config.yaml`; spec agent-and-client.md §9.4–§9.5): hub directory
 * remotes whose hub lists resolve `-hub <short name>`.
 * @module
 */
import { type Command, command, UsageError } from "../../cli/mod.ts";
import { terminalPrompt } from "../../host/mod.ts";
import { discoverDirectory, fetchDirectoryHubs, formatTable } from "../hubapi.ts";
import {
  clientConfigPath,
  deleteRemote,
  listRemotes,
  maskToken,
  normalizeRemoteUrl,
  putRemote,
  remoteNameProblem,
} from "../remotes.ts";
import { JSON_FLAG, type TelaDeps } from "./shared.ts";

const SEE = ["tela remote", "tela connect", "telahubd portal"];

/** A remote whose `/.well-known/tela` offers no protocol this tela speaks (1.x). Exit 1. */
export class RemoteProtocolError extends Error {
  override name = "RemoteProtocolError";
}

/** `tela remote remove` of a name `config.yaml` does not have. Exit 1. */
export class RemoteNotFoundError extends Error {
  override name = "RemoteNotFoundError";
}

const listCommand = command({
  name: "list",
  aliases: ["ls"],
  summary: "List hub directory remotes.",
  usage: ["tela remote list [-json]"],
  description: `Prints each remote of ~/.tela/config.yaml with its URL, directory path and token
(only its last 4 characters). -json prints [{"name","url","hubDirectory","hasToken"}].`,
  flags: { json: JSON_FLAG },
  examples: ["tela remote list", "tela remote list -json"],
  seeAlso: SEE,
  async run({ values, out, err }) {
    const list = await listRemotes();
    if (values.json) {
      out(JSON.stringify(
        list.map(({ name, remote }) => ({
          name,
          url: remote.url,
          hubDirectory: remote.hub_directory ?? "/api/hubs",
          hasToken: !!remote.token,
        })),
        null,
        2,
      ));
      return;
    }
    if (list.length === 0) {
      // A note, not data: stdout stays empty for scripts.
      err("No remotes configured.\nAdd one with: tela remote add <name> <url>");
      return;
    }
    const rows = [["NAME", "URL", "DIRECTORY", "TOKEN"]];
    for (const { name, remote } of list) {
      rows.push([name, remote.url, remote.hub_directory ?? "/api/hubs", maskToken(remote.token)]);
    }
    out(formatTable(rows));
  },
});

/**
 * `tela remote [add|list|remove]`; `tela remote` alone lists. `add` discovers the
 * directory (`/.well-known/tela`), checks that it answers its hub list with the token, and
 * saves `config.yaml` atomically (0600).
 * @param deps where the token prompt reads from.
 */
export function remoteCommand(deps: TelaDeps): Command {
  return command({
    name: "remote",
    summary: "Manage hub directory remotes (add, remove, list).",
    usage: [
      "tela remote add <name> <portal-url> [-token <token>]",
      "tela remote list [-json]",
      "tela remote remove <name>",
    ],
    description: `A remote is a hub directory (a portal) whose hub list resolves short hub names:
"tela connect -hub myhub" asks each remote (in name order) for "myhub" before falling back
to ~/.tela/hubs.yaml. Remotes live in ~/.tela/config.yaml. "tela remote" alone lists them.`,
    flags: { json: JSON_FLAG },
    examples: [
      "tela remote add work https://directory.example.com",
      "tela remote list",
      "tela connect -hub myhub -machine barn",
    ],
    seeAlso: ["tela connect", "telahubd portal"],
    run: (inv) => listCommand.run!(inv),
    commands: [
      command({
        name: "add",
        summary: "Add a hub directory remote.",
        usage: ["tela remote add <name> <portal-url> [-token <token>]"],
        description: `Discovers the directory through <portal-url>/.well-known/tela, checks that
its hub list answers, and stores the remote in ~/.tela/config.yaml (mode 0600). Without
-token it asks for one (press Enter for an open directory; without a terminal one line of
stdin is read). A remote of the same name is replaced.`,
        flags: {
          token: {
            type: "string",
            arg: "token",
            usage: "Bearer token of the directory (default: asked; empty for an open directory)",
          },
        },
        args: ["<name>", "<portal-url>"],
        examples: [
          "tela remote add work https://directory.example.com",
          "tela remote add lab http://10.0.0.5:8090 -token $PORTAL_TOKEN",
        ],
        seeAlso: SEE,
        async run({ values, positionals, out, err }) {
          const [name, rawUrl] = positionals;
          const bad = remoteNameProblem(name);
          if (bad) throw new UsageError(bad);
          let url: string;
          try {
            url = normalizeRemoteUrl(rawUrl);
          } catch (e) {
            throw new UsageError((e as Error).message);
          }
          let token = values.token;
          if (token === undefined) {
            const ask = terminalPrompt(deps.readLine);
            token = (await ask(`Token for ${url} (press Enter for none): `, { secret: true }))
              ?.trim() ?? "";
          }
          err(`Discovering ${url}...`);
          const found = await discoverDirectory(url, token || undefined);
          const versions = found.supportedVersions;
          if (versions && versions.length && !versions.some((v) => /^1\./.test(v))) {
            throw new RemoteProtocolError(
              `${url} speaks portal protocol ${versions.join(", ")} only and this tela speaks ` +
                `1.x; upgrade tela, or use a directory that lists 1.x in supportedVersions`,
            );
          }
          err(
            `  hub directory ${found.hubDirectory}${
              found.fallback ? " (no /.well-known/tela: the default)" : ""
            }`,
          );
          err(`Verifying ${url}${found.hubDirectory}...`);
          const hubs = await fetchDirectoryHubs(name, url, found.hubDirectory, token || undefined);
          err(`  ok: ${hubs.length} hub(s) listed`);
          const replaced = await putRemote(name, {
            url,
            ...(token ? { token } : {}),
            hub_directory: found.hubDirectory,
          });
          out(`Remote "${name}" ${replaced ? "replaced" : "added"} (${url})`);
          out(`Config saved to ${clientConfigPath()}`);
        },
      }),
      listCommand,
      command({
        name: "remove",
        aliases: ["rm"],
        summary: "Remove a hub directory remote.",
        usage: ["tela remote remove <name>"],
        description: "Forgets the named remote in ~/.tela/config.yaml. Nothing is sent to it.",
        args: ["<name>"],
        examples: ["tela remote remove work"],
        seeAlso: SEE,
        async run({ positionals, out }) {
          const [name] = positionals;
          if (!(await deleteRemote(name))) {
            const names = (await listRemotes()).map((r) => r.name);
            throw new RemoteNotFoundError(
              `remote "${name}" not found in ${clientConfigPath()} (${
                names.length ? `it has: ${names.join(", ")}` : "it has none"
              }); "tela remote list" shows them`,
            );
          }
          out(`Remote "${name}" removed.`);
        },
      }),
    ],
  });
}
