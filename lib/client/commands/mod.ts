/**
 * The command tree of `tela` (book, Appendix A; *TDL for the command line*).
 * @module
 */
import { type Command, command, helpCommand, renderHelp, versionCommand } from "../../cli/mod.ts";
import { loginCommand, logoutCommand, profileCommand } from "./account.ts";
import { adminCommand } from "./admin.ts";
import { connectCommand } from "./connect.ts";
import { filesCommand } from "./files.ts";
import { mountCommand } from "./mount.ts";
import { pairCommand } from "./pair.ts";
import { plannedTelaCommands } from "./planned.ts";
import { remoteCommand } from "./remote.ts";
import { machinesCommand, servicesCommand, statusCommand } from "./query.ts";
import type { TelaDeps } from "./shared.ts";
import { platformString, TELA_VERSION } from "../../host/mod.ts";

export { env, type TelaDeps } from "./shared.ts";

/**
 * The whole `tela` tree. `tela` alone, `tela help`, `tela -h` print the top-level help
 * (exit 0); `-version` is kept from earlier versions as `tela version`.
 * @param deps the tunnel engine and I/O the commands use.
 */
export function telaCommand(deps: TelaDeps): Command {
  return command({
    name: "tela",
    summary: "Connect to machines through a Tela hub.",
    usage: ["tela <command> [<sub-command>] [flags] [args]", "tela help <command>"],
    description: `The client. Opens WireGuard tunnels to machines through a hub and binds local TCP
listeners for their services; needs no admin rights or kernel drivers. Every command
answers -h with its help. Environment: TELA_HUB, TELA_MACHINE, TELA_TOKEN, TELA_PROFILE,
TELA_MTU, TELA_OWNER_TOKEN, TELA_TRANSPORT, TELA_STUN_SERVERS, TELA_SHARE, TELA_MOUNT_PORT.`,
    flags: { version: { type: "boolean", usage: 'Print the version (as "tela version")' } },
    examples: [
      "tela connect -hub owlsnest.parkscomputing.com -machine dev-vm",
      "tela machines -hub owlsnest.parkscomputing.com",
      "tela help connect",
    ],
    seeAlso: ["telad -h", "telahubd -h"],
    run({ values, root, out }) {
      if (values.version) return void out(`tela ${TELA_VERSION} ${platformString()}`);
      out(renderHelp(root, root.name));
    },
    commands: [
      connectCommand(deps),
      machinesCommand,
      servicesCommand,
      statusCommand,
      loginCommand(deps),
      logoutCommand,
      profileCommand,
      ...plannedTelaCommands({
        remote: remoteCommand(deps),
        pair: pairCommand,
        admin: adminCommand(deps),
        files: filesCommand(),
        mount: mountCommand(deps),
      }),
      versionCommand("tela", TELA_VERSION, platformString()),
      helpCommand("tela"),
    ],
  });
}
