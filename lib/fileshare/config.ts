/**
 * A machine's file shares as the agent enforces them (spec agent-and-client.md §2.9; book,
 * *File sharing*, Appendix B `shares:`): sizes, extension lists with the default block list,
 * the system directories no share may be, and the capability object advertised to the hub
 * (§2.10). telad.yaml parsing (with file:line errors) lives in lib/agent/config.ts and uses
 * these helpers.
 * @module
 */
import { isAbsolute, normalize, resolve } from "node:path";

/** One share, parsed and defaulted. */
export interface ShareConfig {
  /** Name clients address it by (`-share`, WebDAV path segment). */
  name: string;
  /** Absolute, cleaned path of the shared directory. */
  path: string;
  /** Uploads, mkdir, rename and move allowed. */
  writable: boolean;
  /** Deleting files and empty directories allowed (only with `writable`). */
  allowDelete: boolean;
  /** Largest upload, bytes (default 50 MiB). */
  maxFileSize: number;
  /** Largest total of all regular files under the share, bytes; 0 = unlimited. */
  maxTotalSize: number;
  /** Lowercase extensions with their dot; empty = no allow-list. */
  allowedExtensions: string[];
  /** Lowercase extensions with their dot, checked before the allow-list. */
  blockedExtensions: string[];
}

/** Default `maxFileSize`: 50 MiB (spec §2.9). */
export const DEFAULT_MAX_FILE_SIZE = 50 * 1024 * 1024;
/** Blocked when neither list is given (spec §2.9, book Appendix B). */
export const DEFAULT_BLOCKED_EXTENSIONS = [".exe", ".bat", ".cmd", ".ps1", ".sh"] as const;
/** Name the deprecated `fileShare:` block is served under (spec §2.9). */
export const LEGACY_SHARE_NAME = "legacy";

/** Directories no share may be (spec §2.9): exact, case-insensitive. */
export const SYSTEM_DIRECTORIES: readonly string[] = Deno.build.os === "windows"
  ? ["C:\\", "C:\\Windows", "C:\\Windows\\System32", "C:\\Program Files", "C:\\Program Files (x86)"]
  : ["/", "/etc", "/bin", "/sbin", "/usr", "/var", "/tmp", "/root"];

/**
 * Parses a size the way the Go agent does (spec §2.9): trimmed, uppercased, an optional
 * `GB`/`MB`/`KB` suffix (binary: ×2^30, ×2^20, ×2^10), the rest a base-10 integer.
 * @returns bytes.
 * @throws {Error} `invalid size: "<numeric part>"` (no fractions, no `B` suffix).
 */
export function parseSize(text: string | number): number {
  if (typeof text === "number") {
    if (Number.isInteger(text) && text >= 0) return text;
    throw new Error(`invalid size: "${text}"`);
  }
  let s = text.trim().toUpperCase();
  let mult = 1;
  for (const [suffix, m] of [["GB", 2 ** 30], ["MB", 2 ** 20], ["KB", 2 ** 10]] as const) {
    if (s.endsWith(suffix)) {
      mult = m;
      s = s.slice(0, -2);
      break;
    }
  }
  if (!/^[+-]?\d+$/.test(s) || Number(s) < 0) throw new Error(`invalid size: "${s}"`);
  return Number(s) * mult;
}

/** `exe` → `.exe`, `.EXE` → `.exe` (spec §2.9). */
export function normalizeExtension(ext: string): string {
  const e = ext.trim().toLowerCase();
  return e.startsWith(".") ? e : `.${e}`;
}

/**
 * The extension rule of spec §2.9 for a file name: extension = lowercase of the text from the
 * last `.` of the final path element (`archive.tar.gz` → `.gz`, `.bashrc` → `.bashrc`, no
 * dot → none). No extension passes only without an allow-list; a blocked one fails; with an
 * allow-list only listed ones pass. Trailing dots and spaces are dropped from the name first,
 * on every OS: the name is checked as Windows stores it (`a.exe.` and `a.exe ` are `a.exe`).
 * @param share the share's lists (already normalised).
 * @param path a path or base name, `/` separated.
 */
export function extensionAllowed(
  share: Pick<ShareConfig, "allowedExtensions" | "blockedExtensions">,
  path: string,
): boolean {
  const base = path.slice(path.lastIndexOf("/") + 1).replace(/[. ]+$/, "");
  const dot = base.lastIndexOf(".");
  const ext = dot >= 0 ? base.slice(dot).toLowerCase() : "";
  if (ext === "") return share.allowedExtensions.length === 0;
  if (share.blockedExtensions.includes(ext)) return false;
  if (share.allowedExtensions.length > 0) return share.allowedExtensions.includes(ext);
  return true;
}

/** A share's settings as written in telad.yaml, before defaults (spec §2.9). */
export interface ShareFields {
  name?: string;
  path?: string;
  writable?: boolean;
  allowDelete?: boolean;
  maxFileSize?: string | number;
  maxTotalSize?: string | number;
  allowedExtensions?: string[];
  blockedExtensions?: string[];
}

/** A share setting that cannot be served; `field` names the key for a file:line error. */
export class ShareConfigError extends Error {
  override name = "ShareConfigError";
  constructor(readonly field: keyof ShareFields | undefined, message: string) {
    super(message);
  }
}

/**
 * Applies defaults and checks one share (spec §2.9).
 * @param f the fields as written.
 * @param cwd where a relative `path` is resolved from (the Go agent accepts them).
 * @throws {ShareConfigError} with the field and a message naming the fix.
 */
export function shareFromFields(f: ShareFields, cwd = Deno.cwd()): ShareConfig {
  if (!f.name) throw new ShareConfigError("name", "share name is required (e.g. name: docs)");
  const where = `shares[${f.name}]`;
  if (!f.path) {
    throw new ShareConfigError("path", `${where}.path is required (e.g. path: /srv/${f.name})`);
  }
  const path = normalize(isAbsolute(f.path) ? f.path : resolve(cwd, f.path)).replace(
    /(.)[\/\\]+$/,
    "$1",
  );
  if (SYSTEM_DIRECTORIES.some((d) => d.toLowerCase() === path.toLowerCase())) {
    throw new ShareConfigError(
      "path",
      `${where}.path must not be a system directory: ${path} (share a directory of its own, ` +
        `e.g. /srv/${f.name})`,
    );
  }
  if (f.allowDelete && !f.writable) {
    throw new ShareConfigError(
      "allowDelete",
      `${where}.allowDelete requires writable: true (add writable: true, or remove allowDelete)`,
    );
  }
  const size = (field: "maxFileSize" | "maxTotalSize", fallback: number) => {
    const v = f[field];
    if (v === undefined || v === null || v === "") return fallback;
    try {
      return parseSize(v);
    } catch (err) {
      throw new ShareConfigError(
        field,
        `${where}.${field}: ${(err as Error).message} (write e.g. ${field}: 200MB; ` +
          `units KB, MB, GB; whole numbers only)`,
      );
    }
  };
  const allowed = (f.allowedExtensions ?? []).map(normalizeExtension);
  let blocked = (f.blockedExtensions ?? []).map(normalizeExtension);
  // Q-FS-3 (replicated): the default list applies whenever both lists are empty.
  if (blocked.length === 0 && allowed.length === 0) blocked = [...DEFAULT_BLOCKED_EXTENSIONS];
  return {
    name: f.name,
    path,
    writable: f.writable === true,
    allowDelete: f.allowDelete === true,
    maxFileSize: size("maxFileSize", DEFAULT_MAX_FILE_SIZE),
    maxTotalSize: size("maxTotalSize", 0),
    allowedExtensions: allowed,
    blockedExtensions: blocked,
  };
}

/**
 * Creates each share's directory if missing (mode 0700, parents included; spec §2.9).
 * @throws {Error} `share "<name>" directory error: <path> exists but is not a directory`,
 *   or the OS error of the mkdir.
 */
export async function ensureShareDirectories(shares: ShareConfig[]): Promise<void> {
  for (const s of shares) {
    try {
      await Deno.mkdir(s.path, { recursive: true, mode: 0o700 });
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) {
        throw new Error(`share "${s.name}" directory error: ${(err as Error).message}`);
      }
    }
    const st = await Deno.stat(s.path);
    if (!st.isDirectory) {
      throw new Error(
        `share "${s.name}" directory error: ${s.path} exists but is not a directory ` +
          `(point path at a directory)`,
      );
    }
  }
}

/** One share in the capability object (spec §2.10). */
export interface ShareCapability {
  name: string;
  writable: boolean;
  allowDelete: boolean;
  maxFileSize: number;
  blockedExtensions?: string[];
  allowedExtensions?: string[];
}

/**
 * The `capabilities` object of `register` and `wg-pubkey` (spec §2.10): `shares` (omitted
 * when none) then `management: true`.
 */
export function capabilities(
  shares: readonly ShareConfig[],
): { shares?: ShareCapability[]; management: true } {
  if (shares.length === 0) return { management: true };
  return {
    shares: shares.map((s) => ({
      name: s.name,
      writable: s.writable,
      allowDelete: s.allowDelete,
      maxFileSize: s.maxFileSize,
      ...(s.blockedExtensions.length ? { blockedExtensions: s.blockedExtensions } : {}),
      ...(s.allowedExtensions.length ? { allowedExtensions: s.allowedExtensions } : {}),
    })),
    management: true,
  };
}
