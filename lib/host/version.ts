/** Version string shared by `tela` and `telad` (`tela version` prints `tela <version> <os>/<arch>`). @module */

/** This build's version. */
export const TELA_VERSION = "v0.1.0-dev";

/**
 * This process's platform in Go's names: `Deno.build.os` as `GOOS` (`linux`, `darwin`,
 * `windows`) and `Deno.build.arch` as `GOARCH` (`amd64`, `arm64`).
 * @returns e.g. `{ os: "linux", arch: "amd64" }`.
 */
export function goPlatform(): { os: string; arch: string } {
  const arch = Deno.build.arch === "x86_64"
    ? "amd64"
    : Deno.build.arch === "aarch64"
    ? "arm64"
    : Deno.build.arch;
  return { os: Deno.build.os, arch };
}

/**
 * Go-style `<goos>/<goarch>` for this process, e.g. `linux/amd64`, `darwin/arm64`,
 * `windows/amd64`, as the Go binaries print it in `version` (book, Appendix A).
 */
export function platformString(): string {
  const { os, arch } = goPlatform();
  return `${os}/${arch}`;
}
