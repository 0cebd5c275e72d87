/**
 * `tela mount` (book, Appendix A and *Mounting as a local drive*; spec agent-and-client.md §4):
 * WebDAV on 127.0.0.1 exposing `/<machine>/<share>/<path>` of every connected machine.
 * @module
 */
import { command } from "../../cli/mod.ts";
import { logger, setLogLevel } from "../../log/mod.ts";
import { DEFAULT_MOUNT_PORT, mountPort, runMount } from "../mount.ts";
import { signalPromise, type TelaDeps, VERBOSE_FLAG } from "./shared.ts";

/**
 * `tela mount [-port 18080] [-mount <drive-or-dir>]`: runs until Ctrl-C. Its `run` throws when
 * no `tela connect` is running (no control file), the port cannot be bound, or `-mount`
 * cannot be used or mounted (exit 1).
 * @param deps output and the Ctrl-C signal.
 */
export function mountCommand(deps: TelaDeps) {
  return command({
    name: "mount",
    summary: "Serve connected machines' file shares over WebDAV.",
    usage: ["tela mount [-port 18080] [-mount <drive-or-dir>]"],
    description: `Starts a WebDAV server on 127.0.0.1 exposing the file shares of every machine
the running "tela connect" has a tunnel to, as /<machine>/<share>/<path>. With -mount, also
mounts it: a drive letter on Windows (net use), a directory on macOS (mount_webdav) and Linux
(davfs2, needs root). Without -mount it prints the commands to mount it by hand. Runs until
Ctrl-C, then unmounts. Needs an active "tela connect" session. -port wins over TELA_MOUNT_PORT.
Empty files are kept by this server only (the file-share protocol cannot store them).`,
    flags: {
      port: {
        type: "number",
        usage: `WebDAV listen port on 127.0.0.1 (env TELA_MOUNT_PORT; 0: any free port). ` +
          `Default: ${DEFAULT_MOUNT_PORT}`,
      },
      mount: { type: "string", arg: "path", usage: "Drive letter (Windows T:) or directory" },
      v: VERBOSE_FLAG,
    },
    examples: [
      "tela mount",
      "tela mount -port 9999",
      "tela mount -mount T:",
      "tela mount -mount ~/tela",
    ],
    seeAlso: ["tela files", "tela connect"],
    async run({ values }) {
      if (values.v) setLogLevel("debug");
      await runMount({
        port: mountPort(values.port),
        mountPoint: values.mount,
        stop: deps.interrupted ?? signalPromise(),
        log: logger("mount"),
      });
    },
  });
}
