/**
 * `tela login`, `tela logout` and `tela profile ...` (book, Appendix A).
 * @module
 */
import { parse as parseYaml } from "yaml";
import { type Command, command, UsageError } from "../../cli/mod.ts";
import {
  CredentialNotFoundError,
  emptyTokenMessage,
  promptIsInteractive,
  removeCredential,
  storeCredential,
  terminalPrompt,
  userCredentialsPath,
} from "../../host/mod.ts";
import { resolveLoginHub } from "../hubs.ts";
import { createProfile, deleteProfile, listProfiles, showProfile } from "../profile.ts";
import { JSON_FLAG, type TelaDeps } from "./shared.ts";

/**
 * `tela login <hub-url|name>` (book, Appendix A; *Credentials and pairing*): resolves a
 * short name through `hubs.yaml`, prompts for a token (typed without echo) and an optional
 * identity, and stores them in `~/.tela/credentials.yaml` (0600). Prints nothing (book, *TDL
 * for the command line*: "tela login echoes nothing"). Its `run` throws `UsageError` for an
 * empty token (exit 2; without a terminal the message says to pipe the token in) and `ConfigError` for a malformed store or `hubs.yaml` (exit 3).
 * @param deps where the answers are read from (no questions are printed then).
 */
export function loginCommand(deps: TelaDeps): Command {
  return command({
    name: "login",
    summary: "Store a hub token in the credential store.",
    usage: ["tela login <hub-url>"],
    description: `Prompts for a token (typed without echo) and an optional identity and stores
them for the hub in ~/.tela/credentials.yaml (mode 0600); later commands need no -token.
Without a terminal it reads the two answers from stdin, one a line. Prints nothing.`,
    args: ["<hub-url>"],
    examples: ["tela login wss://owlsnest.parkscomputing.com"],
    seeAlso: ["tela logout", "tela machines"],
    async run({ positionals }) {
      const hub = await resolveLoginHub(positionals[0]);
      const ask = terminalPrompt(deps.readLine);
      const token = (await ask("Token: ", { secret: true }))?.trim() ?? "";
      if (!token) {
        throw new UsageError(
          emptyTokenMessage(`tela login ${positionals[0]}`, promptIsInteractive(deps.readLine)),
        );
      }
      const identity = (await ask("Identity (press Enter to skip): "))?.trim() ?? "";
      await storeCredential(hub, { token, ...(identity ? { identity } : {}) });
    },
  });
}

/**
 * `tela logout <hub-url|name>` (book, Appendix A): removes the hub's token from the user
 * credential store and prints nothing; `CredentialNotFoundError` (exit 1) when none is
 * stored, `ConfigError` (exit 3) for a malformed store.
 */
export const logoutCommand = command({
  name: "logout",
  summary: "Remove a hub's token from the credential store.",
  usage: ["tela logout <hub-url>"],
  description: `Removes the token stored by "tela login" for the hub from
~/.tela/credentials.yaml. Prints nothing; a hub with no stored token is an error.`,
  args: ["<hub-url>"],
  examples: ["tela logout wss://owlsnest.parkscomputing.com"],
  seeAlso: ["tela login"],
  async run({ positionals }) {
    const hub = await resolveLoginHub(positionals[0]);
    if (!(await removeCredential(hub))) {
      throw new CredentialNotFoundError(
        `no token stored for ${hub} in ${userCredentialsPath()}; "tela login ${
          positionals[0]
        }" stores one`,
      );
    }
  },
});

const PROFILE_SEE_ALSO = ["tela profile", "tela connect"];

const profileList = command({
  name: "list",
  aliases: ["ls"],
  summary: "List connection profiles.",
  usage: ["tela profile list [-json]"],
  description: "Prints the name of each profile in ~/.tela/profiles, one a line.",
  flags: { json: JSON_FLAG },
  examples: ["tela profile list", "tela profile list -json"],
  seeAlso: PROFILE_SEE_ALSO,
  async run({ values, out, err }) {
    const names = await listProfiles();
    if (values.json) out(JSON.stringify(names, null, 2));
    else if (names.length) out(names.join("\n"));
    else err("No profiles found."); // a note, not data: stdout stays empty for scripts
  },
});

/**
 * `tela profile [list|show|create|delete]` (book, Appendix A; profiles in Appendix B);
 * `tela profile` alone lists. A malformed profile is a `ConfigError` (exit 3).
 */
export const profileCommand = command({
  name: "profile",
  summary: "Manage connection profiles (list, show, create, delete).",
  usage: [
    "tela profile list [-json]",
    "tela profile show <name> [-json]",
    "tela profile create <name>",
    "tela profile delete <name>",
  ],
  description: `A profile (~/.tela/profiles/<name>.yaml) lists hub and machine connections that
"tela connect -profile <name>" opens in parallel. "tela profile" alone lists the profiles.`,
  flags: { json: JSON_FLAG },
  examples: ["tela profile list", "tela profile create home", "tela connect -profile home"],
  seeAlso: ["tela connect"],
  run: (inv) => profileList.run!(inv),
  commands: [
    profileList,
    command({
      name: "show",
      summary: "Print a profile's YAML.",
      usage: ["tela profile show <name> [-json]"],
      description: "Prints the profile file as written, or its content as JSON with -json.",
      flags: { json: { type: "boolean", usage: "Print JSON instead of the profile's YAML" } },
      args: ["<name>"],
      examples: ["tela profile show home", "tela profile show home -json"],
      seeAlso: PROFILE_SEE_ALSO,
      async run({ values, positionals, out }) {
        const text = await showProfile(positionals[0]);
        out(values.json ? JSON.stringify(parseYaml(text), null, 2) : text.replace(/\n$/, ""));
      },
    }),
    command({
      name: "create",
      summary: "Create a profile from a commented template.",
      usage: ["tela profile create <name>"],
      description: `Writes ~/.tela/profiles/<name>.yaml (mode 0600) with a commented example
connection and prints its path; edit it, then run "tela connect -profile <name>".`,
      args: ["<name>"],
      examples: ["tela profile create home"],
      seeAlso: PROFILE_SEE_ALSO,
      async run({ positionals, out }) {
        // The path is the command's data (what to edit next), not a confirmation.
        out(await createProfile(positionals[0]));
      },
    }),
    command({
      name: "delete",
      aliases: ["rm"],
      summary: "Delete a profile.",
      usage: ["tela profile delete <name>"],
      description: "Removes ~/.tela/profiles/<name>.yaml. Prints nothing.",
      args: ["<name>"],
      examples: ["tela profile delete home"],
      seeAlso: PROFILE_SEE_ALSO,
      async run({ positionals }) {
        await deleteProfile(positionals[0]);
      },
    }),
  ],
});
