/** Version string shared by `tela` and `telad` (`tela version` prints `tela <version> <os>/<arch>`). @module */

/** This build's version. */
export const TELA_VERSION = "v0.1.0-dev";

/**
 * Go-style `<goos>/<goarch>` for this process, e.g. `linux/amd64`, `darwin/arm64`,
 * `windows/amd64` (`Deno.build.os`/`arch` mapped to Go's `GOOS`/`GOARCH` names), as the
 * Go binaries print it in `version` (book, Appendix A).
 */
export function platformString(): string {
  const arch = Deno.build.arch === "x86_64"
    ? "amd64"
    : Deno.build.arch === "aarch64"
    ? "arm64"
    : Deno.build.arch;
  return `${Deno.build.os}/${arch}`;
}
