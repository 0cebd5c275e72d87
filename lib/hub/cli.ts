/**
 * `telahubd`'s command line (book, Appendix A): flags, then the hub.
 *
 * Flags: `-config <path>`, `-listen <addr>`, `-v` (verbose), `-open` (run without authentication
 * when the config has no tokens; otherwise a fresh hub generates an owner token).
 * Sub-commands: `version`; `health [-port N] [-timeout 3s] [-url URL]` (exit 0 iff
 * `/.well-known/tela` answers with a protocol version; the Docker health check).
 * Set `TELAHUBD_PORT=0` / `TELAHUBD_UDP_PORT=0` to take free ports; the hub prints
 * `telahubd listening on :<port> (udp relay :<udpPort>)` on stdout once serving.
 *
 * @module
 */
import { FlagError, formatFlagHelp, parseFlags } from "../cli/mod.ts";
import { ConfigError } from "../config/mod.ts";
import { setLogLevel } from "../log/mod.ts";
import { checkHealth, healthTimeoutMs } from "./health.ts";
import { HUB_VERSION } from "./version.ts";
import { isListenAddress } from "./config.ts";
import { startHub } from "./server.ts";

const FLAGS = {
  config: { type: "string", usage: "Path to YAML config file" },
  port: { type: "number", usage: "HTTP+WS listen port (over TELAHUBD_PORT and the config)" },
  "udp-port": { type: "number", usage: "UDP relay port (over TELAHUBD_UDP_PORT and the config)" },
  listen: {
    type: "string",
    usage:
      "Address to listen on, e.g. 127.0.0.1 (over TELAHUBD_LISTEN and the config; default 0.0.0.0)",
  },
  v: { type: "boolean", usage: "Verbose logging" },
  open: {
    type: "boolean",
    usage: "Run in open mode (no authentication) when the config has no tokens",
  },
  h: { type: "boolean", usage: "Show help" },
  help: { type: "boolean", usage: "Show help" },
} as const;

const HEALTH_FLAGS = {
  port: { type: "number", usage: "Hub port (default TELAHUBD_PORT, else 80)" },
  timeout: { type: "string", usage: "Give up after this long", default: "3s" },
  url: {
    type: "string",
    usage: "Full URL to probe instead of http://127.0.0.1:<port>/.well-known/tela",
  },
} as const;

/** `telahubd health [-port N] [-timeout 3s] [-url URL]`: exit 0 iff the hub answers. */
async function health(args: string[]): Promise<number> {
  const { values } = parseFlags(args, HEALTH_FLAGS);
  const envPort = Number(Deno.env.get("TELAHUBD_PORT") ?? "");
  const port = values.port ?? (envPort > 0 ? envPort : 80);
  const r = await checkHealth({
    url: values.url,
    port,
    timeoutMs: healthTimeoutMs(values.timeout),
  });
  (r.ok ? console.log : console.error)(r.line);
  return r.ok ? 0 : 1;
}

/**
 * Runs `telahubd` with `args` (book, Appendix A): `version`, `health`, or the hub in the
 * foreground until SIGINT/SIGTERM.
 * @param args command-line words after the program name.
 * @returns exit status: 0 after a clean stop, 1 on a runtime or configuration error, 2 on bad
 *   flags.
 */
export async function telahubdMain(args: string[]): Promise<number> {
  const sub = args[0];
  if (sub === "version") {
    const arch = Deno.build.arch === "x86_64"
      ? "amd64"
      : Deno.build.arch === "aarch64"
      ? "arm64"
      : Deno.build.arch;
    console.log(`telahubd ${HUB_VERSION} ${Deno.build.os}/${arch}`);
    return 0;
  }
  if (sub === "health") {
    try {
      return await health(args.slice(1));
    } catch (err) {
      console.error(`telahubd health: ${(err as Error).message}`);
      return 2;
    }
  }
  let flags;
  try {
    flags = parseFlags(args, FLAGS);
  } catch (err) {
    if (err instanceof FlagError) {
      console.error(`${err.message}\nUsage of telahubd:\n${formatFlagHelp(FLAGS)}`);
      return 2;
    }
    throw err;
  }
  if (flags.values.h || flags.values.help) {
    console.log(`Usage of telahubd:\n${formatFlagHelp(FLAGS)}`);
    return 0;
  }
  if (flags.values.v) setLogLevel("debug");
  let hub;
  try {
    for (const name of ["port", "udp-port"] as const) {
      const p = flags.values[name];
      if (p !== undefined && !(Number.isInteger(p) && p >= 0 && p <= 65535)) {
        console.error(`telahubd: -${name} ${p} is not a port: use 0..65535`);
        return 2;
      }
    }
    const listen = flags.values.listen;
    if (listen !== undefined && !isListenAddress(listen)) {
      console.error(
        `telahubd: -listen ${listen} is not an IP address: use e.g. 0.0.0.0 or 127.0.0.1`,
      );
      return 2;
    }
    hub = await startHub({
      configPath: flags.values.config,
      open: !!flags.values.open,
      port: flags.values.port,
      udpPort: flags.values["udp-port"],
      listen,
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`telahubd: ${err.message}`);
      return 1;
    }
    console.error(`telahubd: ${(err as Error).message}`);
    return 1;
  }
  const done = Promise.withResolvers<number>();
  let signalled = false;
  const onSignal = () => {
    if (signalled) {
      console.error("telahubd: second signal, exiting now");
      Deno.exit(1);
    }
    signalled = true;
    hub.shutdown().then(() => done.resolve(0), () => done.resolve(1));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", onSignal);
  return await done.promise;
}
