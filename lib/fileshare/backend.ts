/**
 * What `tela mount` (WebDAV, spec agent-and-client.md §4) and other file browsers need from the
 * file shares of connected machines: {@link ShareBackend}. One implementation talks to the
 * local control API of a running `tela connect` (spec §13.4, `POST /files/<machine>`); tests
 * use a temporary directory. Every operation maps to one file-share protocol request (spec §2.6),
 * so a backend can do exactly what the agent allows and no more: the agent enforces the share's
 * rules (§2.9) and its error strings (§2.8) reach the caller as {@link ShareError}.
 * @module
 */

/** One share of a machine, as `list-shares` reports it (spec §2.4 share-info object). */
export interface ShareInfo {
  /** The share's name, exact (it is the second path segment of the WebDAV tree). */
  name: string;
  /** Uploads, `mkdir`, `rename` and `move` are allowed (spec §2.9 `writable`). */
  writable: boolean;
  /** `delete` is allowed (spec §2.9 `allowDelete`; only together with `writable`). */
  allowDelete: boolean;
}

/** One entry of a directory listing (spec §2.4 entry object). */
export interface Entry {
  /** Base name, no slashes. */
  name: string;
  /** Bytes; for a directory whatever the agent's OS reports (e.g. 4096), not meaningful. */
  size: number;
  /** Modification time as the agent sends it: UTC RFC 3339, second precision, `Z`. */
  modTime: string;
  /** A directory (otherwise a regular file; the agent never lists symbolic links). */
  isDir: boolean;
}

/** Asks {@link ShareBackend.read} for part of a file; a backend may ignore it. */
export interface ReadRange {
  /** First byte wanted, 0-based. */
  offset: number;
  /** Bytes wanted from `offset`; undefined means to the end of the file. */
  length?: number;
}

/** A file being read (spec §2.6 `read`): the header, then the bytes as a stream. */
export interface ReadResult {
  /** The whole file's size in bytes (not the length of `body` when a range was served). */
  size: number;
  /** Modification time as the agent sends it (UTC RFC 3339), when it sends one. */
  modTime?: string;
  /** `sha256:<64 lowercase hex>` of the whole file, when the agent sends one. */
  checksum?: string;
  /**
   * Byte offset in the file of the first byte of `body`: 0 (or undefined) when the backend
   * ignored the {@link ReadRange} and streams the whole file, which the caller must then skip
   * into itself. A backend never starts after the requested offset.
   */
  offset?: number;
  /**
   * The bytes from `offset` to the end of the file (or of the requested range). Cancel it to
   * abandon the read; the backend then releases its connection. When the transfer breaks the
   * stream errors with a {@link ShareError} (`unavailable`).
   */
  body: ReadableStream<Uint8Array>;
}

/**
 * The file shares of the machines a `tela` process has tunnels to. Paths are relative to the
 * share root with `/` separators, no leading slash needed (`""` is the root of the share);
 * the agent validates them (spec §2.7). Every method throws {@link ShareError} for anything
 * the agent or the transport refuses; other exceptions are bugs.
 */
export interface ShareBackend {
  /** Machines with a live tunnel whose agent answers on the file-share port (spec §4.2). */
  machines(): Promise<string[]>;
  /** The shares of `machine` in the agent's order (spec §2.6 `list-shares`). */
  shares(machine: string): Promise<ShareInfo[]>;
  /**
   * Every entry of the directory `path` of the share (all pages of spec §2.6 `list`), sorted by
   * name byte-wise. Throws `not-found` for a missing directory.
   */
  list(machine: string, share: string, path: string): Promise<Entry[]>;
  /**
   * Opens the file `path` for reading (spec §2.6 `read`). `range` is a hint a backend may
   * honour (see {@link ReadResult.offset}). Throws `not-found`, `invalid` for a directory.
   */
  read(machine: string, share: string, path: string, range?: ReadRange): Promise<ReadResult>;
  /**
   * Writes the file `path` with exactly `size` bytes read from `body` (spec §2.6 `write`),
   * creating missing parent directories and replacing an existing file. `size` must be > 0
   * (the protocol cannot create empty files: `invalid`, "size required"). `checksum`
   * (`sha256:<lowercase hex>`) makes the agent verify the bytes. Resolves when the agent has
   * stored the file. Throws `forbidden` (read-only share, extension), `too-large`, `invalid`.
   */
  write(
    machine: string,
    share: string,
    path: string,
    size: number,
    body: ReadableStream<Uint8Array>,
    checksum?: string,
  ): Promise<void>;
  /** Deletes a file or an empty directory (spec §2.6 `delete`, not recursive). */
  delete(machine: string, share: string, path: string): Promise<void>;
  /** Creates one directory level; the parent must exist (spec §2.6 `mkdir`). */
  mkdir(machine: string, share: string, path: string): Promise<void>;
  /**
   * Renames `path` within its directory to `newName` (a base name; spec §2.6 `rename`).
   * Throws `exists` when the new name is taken.
   */
  rename(machine: string, share: string, path: string, newName: string): Promise<void>;
  /**
   * Moves `path` to `newPath` in the same share (spec §2.6 `move`). If `newPath` is an
   * existing directory the source moves into it; an existing file there is `exists`.
   */
  move(machine: string, share: string, path: string, newPath: string): Promise<void>;
}

/**
 * Kinds of refusal, so a front end can pick its status code without parsing the text:
 * WebDAV maps them to 404, 405 (or 412 where RFC 4918 says so), 403, 413, 400 and 502.
 */
export type ShareErrorCode =
  | "not-found"
  | "exists"
  | "forbidden"
  | "too-large"
  | "invalid"
  | "unavailable";

/**
 * A file-share operation was refused or could not be carried out. `message` is the agent's
 * error string verbatim (spec §2.8), or for transport failures a sentence naming the machine,
 * the cause and the fix (e.g. `no running tela instance found (no control file)`).
 */
export class ShareError extends Error {
  override name = "ShareError";
  /** The kind of refusal. */
  readonly code: ShareErrorCode;
  /**
   * @param message the agent's error string, or a transport failure's description.
   * @param code the kind; defaults to {@link shareErrorCode} of `message`.
   */
  constructor(message: string, code: ShareErrorCode = shareErrorCode(message)) {
    super(message);
    this.code = code;
  }
}

const EXACT: Record<string, ShareErrorCode> = {
  "file not found": "not-found",
  "source not found": "not-found",
  "cannot read directory": "not-found",
  "destination directory does not exist": "not-found",
  "directory already exists": "exists",
  "destination already exists": "exists",
  "file sharing is read-only": "forbidden",
  "delete not allowed": "forbidden",
  "file extension not allowed": "forbidden",
  "path traversal not allowed": "forbidden",
  "UNC paths not allowed": "forbidden",
  "drive-letter paths not allowed": "forbidden",
  "alternate data streams not allowed": "forbidden",
  "path escapes sandbox": "forbidden",
  "symlinks not allowed": "forbidden",
  "rename would escape sandbox": "forbidden",
  "move would escape sandbox": "forbidden",
  "cannot move a directory into itself": "forbidden",
  "would exceed total size limit": "too-large",
  "invalid request": "invalid",
  "share name required": "invalid",
  "path required": "invalid",
  "size required": "invalid",
  "cannot read a directory": "invalid",
  "not a regular file": "invalid",
  "not a regular file or directory": "invalid",
  "path and newName required": "invalid",
  "path and newPath required": "invalid",
  "newName must be a filename, not a path": "invalid",
  "expected CHUNK header": "invalid",
  "invalid chunk size": "invalid",
  "chunk too large": "invalid",
  "incomplete chunk": "invalid",
  "received more data than declared size": "invalid",
  "checksum mismatch": "invalid",
  "failed to finalize file": "invalid",
  "delete failed": "invalid",
};

/**
 * The kind of an agent error string (spec §2.8 catalogue). `unknown share: <s>` is
 * `not-found`; `file too large (max <n> bytes)` is `too-large`; `source: <e>` and
 * `destination: <e>` take the kind of `<e>`; `mkdir failed: <e>` is `not-found` when the OS
 * says no such file or directory (missing parent), else `invalid`; `size mismatch: ...` and
 * `unknown operation: <op>` are `invalid`; anything else (transport, I/O: `transfer stalled`,
 * `read error`, `cannot open file`, `cannot create temp file`, dial failures) is `unavailable`.
 * @param message an agent's error string.
 */
export function shareErrorCode(message: string): ShareErrorCode {
  const exact = EXACT[message];
  if (exact) return exact;
  if (message.startsWith("unknown share: ")) return "not-found";
  if (message.startsWith("file too large")) return "too-large";
  if (message.startsWith("source: ")) return shareErrorCode(message.slice(8));
  if (message.startsWith("destination: ")) return shareErrorCode(message.slice(13));
  if (message.startsWith("path validation failed: ")) return "forbidden";
  if (message.startsWith("mkdir failed: ")) {
    return /no such file or directory|cannot find the path/i.test(message)
      ? "not-found"
      : "invalid";
  }
  if (message.startsWith("size mismatch: ") || message.startsWith("unknown operation: ")) {
    return "invalid";
  }
  if (/^(rename|move) failed: /.test(message)) return "forbidden";
  return "unavailable";
}
