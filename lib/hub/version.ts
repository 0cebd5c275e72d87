/**
 * The hub's version.
 * @module
 */

/** Version string reported in `/api/status` and the console. */
export const HUB_VERSION = "dev";

/** `linux`/`darwin`/`windows` and `amd64`/`arm64`, as Go reports them (spec §4.1). */
export function goPlatform(): { os: string; arch: string } {
  const arch = Deno.build.arch === "x86_64"
    ? "amd64"
    : Deno.build.arch === "aarch64"
    ? "arm64"
    : Deno.build.arch;
  return { os: Deno.build.os, arch };
}
