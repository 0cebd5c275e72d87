/**
 * Commands of the book that every binary has and this version does not build yet:
 * `service`, `channel`, `update`. Each has its help; running one says it is not available
 * (exit 1). Also `version`, which every binary has.
 * @module
 */
import { type Command, command, notAvailable } from "./command.ts";
import type { FlagSpec } from "./flags.ts";

type Flags = Record<string, FlagSpec>;

const CHANNEL_ARG = "dev, beta, stable, or a custom channel name";
const JSON_FLAG = { type: "boolean", usage: "Print JSON" } as const;

function planned(name: string, p: Omit<Parameters<typeof notAvailable>[0], "name">): Command {
  return notAvailable({ name, ...p });
}

/**
 * `<binary> version [-json]` (book, Appendix A): prints `<binary> <version> <platform>`, or
 * with `-json` the object `{"name", "version", "platform"}`, on stdout.
 * @param binary the program name.
 * @param version e.g. `v0.1.0-dev`.
 * @param platform e.g. `linux/amd64`.
 */
export function versionCommand(binary: string, version: string, platform: string): Command {
  return command({
    name: "version",
    summary: `Print the version of ${binary}.`,
    usage: [`${binary} version [-json]`],
    description: `Prints "${binary} <version> <os>/<arch>" on stdout.`,
    flags: { json: { type: "boolean", usage: "Print JSON" } },
    examples: [`${binary} version`, `${binary} version -json`],
    seeAlso: [`${binary} help`],
    run({ values, out }) {
      out(
        values.json
          ? JSON.stringify({ name: binary, version, platform }, null, 2)
          : `${binary} ${version} ${platform}`,
      );
    },
  });
}

/**
 * `<binary> channel [set <channel>|show|download]` of the book (Appendix A; not built yet):
 * each sub-command has its help and exits 1 when run.
 * @param binary `tela`, `telad` or `telahubd`.
 * @param configFlag whether the binary's channel commands take `-config` (the daemons).
 */
export function channelCommand(binary: string, configFlag: boolean): Command {
  const cfg: Flags = configFlag
    ? {
      config: {
        type: "string",
        arg: "path",
        usage: `Config file (env ${binary.toUpperCase()}_CONFIG)`,
      },
    }
    : {};
  const see = [`${binary} channel`, `${binary} update`];
  const channelFlag = {
    type: "string",
    arg: "ch",
    usage: "Channel (default: the configured one)",
  } as const;
  return planned("channel", {
    summary: "Show or set the release channel.",
    usage: [
      `${binary} channel${configFlag ? " [-config <path>]" : ""} [-json]`,
      `${binary} channel set <channel>`,
    ],
    description: `Shows the current channel and its latest version. Channels: ${CHANNEL_ARG}.`,
    flags: { ...cfg, json: JSON_FLAG },
    examples: [`${binary} channel`, `${binary} channel set beta`],
    seeAlso: [`${binary} update`],
    commands: [
      planned("set", {
        summary: "Switch the release channel.",
        usage: [`${binary} channel set <channel> [-manifest-base <url>]`],
        description:
          `Sets the channel (${CHANNEL_ARG}); -manifest-base overrides the manifest URL prefix.`,
        flags: {
          ...cfg,
          "manifest-base": { type: "string", arg: "url", usage: "Manifest URL prefix" },
        },
        args: ["<channel>"],
        examples: [`${binary} channel set beta`],
        seeAlso: see,
      }),
      planned("show", {
        summary: "Print the channel manifest.",
        usage: [`${binary} channel show [-channel <ch>]`],
        description: "Prints the manifest of the channel: versions and download URLs.",
        flags: { ...cfg, channel: channelFlag, json: JSON_FLAG },
        examples: [`${binary} channel show -channel beta`],
        seeAlso: see,
      }),
      ...(binary === "tela"
        ? [planned("download", {
          summary: "Download a binary from a channel.",
          usage: ["tela channel download <binary> [-channel <ch>] [-o <path>] [-force]"],
          description:
            "Downloads and verifies the binary (tela, telad, telahubd) from the channel.",
          flags: {
            channel: channelFlag,
            o: { type: "string", arg: "path", usage: "Output file" },
            force: { type: "boolean", usage: "Overwrite an existing file" },
          },
          args: ["<binary>"],
          examples: ["tela channel download telad -channel stable -o ./telad"],
          seeAlso: see,
        })]
        : []),
    ],
  });
}

/**
 * `<binary> update [-channel <name>] [-dry-run]` of the book (Appendix A; not built yet):
 * its help, and exit 1 when run.
 * @param binary `tela`, `telad` or `telahubd`.
 */
export function updateCommand(binary: string): Command {
  return planned("update", {
    summary: `Update ${binary} from its release channel.`,
    usage: [`${binary} update [-channel <name>] [-dry-run]`],
    description: `Downloads the channel's latest ${binary}, verifies it and replaces this binary.`,
    flags: {
      channel: { type: "string", arg: "name", usage: "One-shot channel override" },
      "dry-run": { type: "boolean", usage: "Show what would happen" },
    },
    examples: [`${binary} update`, `${binary} update -dry-run`],
    seeAlso: [`${binary} channel`, `${binary} version`],
  });
}

/**
 * `<binary> service install|uninstall|start|stop|restart[|status]` of the book (Appendix A;
 * not built yet): each sub-command has its help and exits 1 when run.
 * @param binary `tela`, `telad` or `telahubd`.
 * @param installFlags the flags `install` accepts besides `-config`.
 * @param withStatus whether the book lists `service status` for this binary.
 */
export function serviceCommand(
  binary: string,
  installFlags: Record<string, FlagSpec>,
  withStatus: boolean,
): Command {
  const see = [`${binary} service`];
  const action = (name: string, summary: string, flags: Flags = {}) =>
    planned(name, {
      summary,
      usage: [`${binary} service ${name}${"json" in flags ? " [-json]" : ""}`],
      description: `${summary} Needs administrator rights.`,
      flags,
      examples: [`${binary} service ${name}`],
      seeAlso: see,
    });
  return planned("service", {
    summary: `Install or manage ${binary} as an OS service.`,
    usage: [
      `${binary} service <install|start|stop|restart|${withStatus ? "status|" : ""}uninstall>`,
    ],
    description: `Runs ${binary} as a native OS service (systemd, launchd, Windows SCM) with its
config in /etc/tela (Linux/macOS) or %ProgramData%\\Tela (Windows).`,
    examples: [`${binary} service install -config /etc/tela/${binary}.yaml`],
    seeAlso: [`${binary} update`],
    commands: [
      planned("install", {
        summary: "Install as an OS service.",
        usage: [`${binary} service install -config <path>`],
        description: "Copies the config to the service location and registers the service.",
        flags: {
          config: { type: "string", arg: "path", usage: "Config file to install" },
          ...installFlags,
        },
        examples: [`${binary} service install -config /etc/tela/${binary}.yaml`],
        seeAlso: see,
      }),
      action("start", "Start the service."),
      action("stop", "Stop the service."),
      action("restart", "Restart the service."),
      ...(withStatus ? [action("status", "Show the service's state.", { json: JSON_FLAG })] : []),
      action("uninstall", "Remove the service."),
    ],
  });
}
