/**
 * The share sandbox (spec agent-and-client.md §2.7; book, *File sharing*, Security): every
 * client-supplied path is checked before any file-system call, and nothing outside the share
 * directory is ever read, written or listed.
 *
 * Stricter than the Go agent, compatibly (the spec allows each):
 * - every component between the share root and the target is checked for being a symbolic
 *   link, not only the last one or its parent (quirk Q-FS-1);
 * - NUL bytes, backslashes, names over 255 bytes and paths over 4096 bytes are refused
 *   before the OS sees them, as `path validation failed: <why>`;
 * - the agent's own in-flight upload files (`.tela-upload-*`) cannot be addressed.
 *
 * Names are compared byte for byte, as the host file system does on Linux: `A.txt` and
 * `a.txt`, or the NFC and NFD spellings of `é.txt`, are different files there, and neither
 * spelling can name anything outside the share (no Unicode folding happens here; U+2024 and
 * U+FF0E are not dots to the OS). A symlink swapped in between this check and the file
 * operation (a race with a local user of the agent machine) is not caught: the check is
 * against clients, who cannot create links through the protocol.
 * @module
 */
import { UPLOAD_TEMP_PREFIX } from "./protocol.ts";

/** A path the sandbox refuses; `message` is the agent's error string (spec §2.8). */
export class SandboxError extends Error {
  override name = "SandboxError";
}

/** Longest name of one path component, in UTF-8 bytes (NAME_MAX on Linux). */
export const MAX_NAME_BYTES = 255;
/** Longest path, in UTF-8 bytes (PATH_MAX on Linux). */
export const MAX_PATH_BYTES = 4096;

const enc = new TextEncoder();

/** A path inside a share. */
export interface SharePath {
  /** Absolute host path. */
  abs: string;
  /** Cleaned path relative to the root, `/` separated; `""` for the root itself. */
  rel: string;
}

/**
 * Checks the text of a client path or name (no file-system access).
 * @throws {SandboxError} with the spec's strings (`path traversal not allowed`, …) or
 *   `path validation failed: <why>`.
 */
export function checkPathText(p: string, os: typeof Deno.build.os = Deno.build.os): void {
  if (p.includes("\0")) throw new SandboxError("path validation failed: NUL byte in path");
  // Spec §2.7 step 1: `..` anywhere, even inside a name such as `a..b`.
  if (p.includes("..")) throw new SandboxError("path traversal not allowed");
  if (os === "windows") {
    if (p.startsWith("\\\\") || p.startsWith("//")) {
      throw new SandboxError("UNC paths not allowed");
    }
    if (p[1] === ":") throw new SandboxError("drive-letter paths not allowed");
    if (p.includes(":")) throw new SandboxError("alternate data streams not allowed");
    const reserved = p.split("/").find(isWindowsReservedName);
    if (reserved !== undefined) {
      throw new SandboxError(
        `path validation failed: ${reserved} is a reserved device name on Windows`,
      );
    }
  }
  if (p.includes("\\")) {
    throw new SandboxError("path validation failed: backslash in path (separate names with /)");
  }
  if (enc.encode(p).length > MAX_PATH_BYTES) {
    throw new SandboxError(`path validation failed: path longer than ${MAX_PATH_BYTES} bytes`);
  }
  for (const part of p.split("/")) {
    if (enc.encode(part).length > MAX_NAME_BYTES) {
      throw new SandboxError(`path validation failed: name longer than ${MAX_NAME_BYTES} bytes`);
    }
    if (part.startsWith(UPLOAD_TEMP_PREFIX)) {
      throw new SandboxError("path validation failed: in-flight upload files cannot be used");
    }
  }
}

/**
 * Checks a name the request creates (write's path, mkdir's path, rename's newName, move's
 * newPath): no control character (U+0000-U+001F, U+007F), which would reach the terminal of
 * whoever lists the share. Existing files with such names stay readable and deletable.
 * @throws {SandboxError} `path validation failed: control character in name`.
 */
export function checkNewPathText(p: string): void {
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) {
    throw new SandboxError("path validation failed: control character in name");
  }
}

/**
 * Whether Windows treats `name` as a device (CON, PRN, AUX, NUL, COM1-9, LPT1-9), with any
 * extension and any case, after dropping trailing dots and spaces as Windows does
 * (`nul.txt`, `Con .log`, `com1.`). Source: Microsoft, "Naming Files, Paths, and Namespaces".
 */
export function isWindowsReservedName(name: string): boolean {
  const stem = name.replace(/[. ]+$/, "").split(".")[0].replace(/ +$/, "");
  return /^(con|prn|aux|nul|com[1-9]|lpt[1-9])$/i.test(stem);
}

/** The components of a client path after lexical cleaning (`""`, `.` dropped). */
export function cleanParts(p: string): string[] {
  return p.split("/").filter((s) => s !== "" && s !== ".");
}

/**
 * Maps a client path into the share (spec §2.7): the text checks of {@link checkPathText},
 * lexical cleaning (a leading `/` is not special: `/x` is `<root>/x`; `""` and `.` are the
 * root), then no component that exists may be a symbolic link.
 * @param root the share directory, absolute and free of symlinks (see `realPath`).
 * @param p the client's path.
 * @throws {SandboxError} the agent's error string for the refusal.
 */
export async function resolveInShare(root: string, p: string): Promise<SharePath> {
  checkPathText(p);
  const parts = cleanParts(p);
  let abs = root;
  for (const part of parts) {
    abs = `${abs}/${part}`;
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(abs);
    } catch {
      // The rest does not exist (or cannot be looked at): nothing to follow.
      abs = [abs, ...parts.slice(parts.indexOf(part) + 1)].join("/");
      break;
    }
    if (st.isSymlink) throw new SandboxError("symlinks not allowed");
    if (!st.isDirectory) {
      abs = [abs, ...parts.slice(parts.indexOf(part) + 1)].join("/");
      break;
    }
  }
  return { abs: root + (parts.length ? "/" + parts.join("/") : ""), rel: parts.join("/") };
}

/**
 * Checks a bare new name (`rename`'s `newName`): the text checks, and no `/`.
 * @throws {SandboxError}
 */
export function checkNewName(name: string): void {
  if (name.includes("/") || name.includes("\\")) {
    throw new SandboxError("newName must be a filename, not a path");
  }
  checkPathText(name);
  checkNewPathText(name);
  if (name === ".") throw new SandboxError("rename would escape sandbox");
}
