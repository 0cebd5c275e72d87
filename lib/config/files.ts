/**
 * One way to read and write Tela's configuration and credential files.
 *
 * Writes are atomic (a temp file in the same folder, fsync, rename) so a crash or
 * a full disk never leaves a half-written config, and files that hold secrets are
 * created with mode 0600 (DEVELOPERS.md, Standards; book, *Credentials and pairing*).
 *
 * @module
 */
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { basename, dirname, join } from "node:path";

/** A config file could not be read or is malformed. The message names the file and the fix. */
export class ConfigError extends Error {
  override name = "ConfigError";
  /**
   * @param path the file, as the user gave it or as it was looked up.
   * @param message what is wrong and the fix; the error's message is `<path>: <message>`,
   *   or `<path>:<line>: <message>` when `line` is given.
   * @param line the 1-based line of the file the error is about, when known.
   */
  constructor(readonly path: string, message: string, readonly line?: number) {
    super(`${path}${line ? `:${line}` : ""}: ${message}`);
  }
}

/**
 * A config value as an error message may show it: by kind for collections (`a list`, `a
 * mapping`; never their contents, which may be circular through YAML aliases or hold a
 * secret), `nothing` for undefined, else the scalar as JSON, cut to `max` characters.
 * @param v any parsed YAML value (cycles allowed).
 * @param max most characters of a scalar shown (default 40); longer ones end with `…`.
 * @example describeValue([1]) // "a list"; describeValue("x") // "\"x\""
 */
export function describeValue(v: unknown, max = 40): string {
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (v !== null && typeof v === "object") return "a mapping";
  if (typeof v === "function" || typeof v === "symbol") return "an unsupported value";
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * The kind of a config value (`a list`, `a mapping`, `a string`, `a number`, `a boolean`,
 * `null`, `nothing`): for values that must never be printed, such as tokens.
 */
export function describeKind(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `a ${typeof v}`;
}

/** Temp files of {@link writeFileAtomic} are named `.<file name>.tmp-<8 hex>`. */
const TEMP_INFIX = ".tmp-";
/** This naming, and the one before it (`.<8 hex>.tmp`). */
const TEMP_NAME = /^\..+\.tmp-[0-9a-f]{8}$|^\.[0-9a-f]{8}\.tmp$/;

/**
 * Writes `data` to `path` atomically: temp file beside it, fsync, rename over (POSIX
 * `rename(2)` replaces the target atomically within one file system; Windows' `MoveFileEx`
 * with replace, which Deno uses, is as close as it gets there).
 *
 * @param path destination file; its folder is created (mode 0700) if missing.
 * @param data bytes or UTF-8 text.
 * @param options.mode file mode, default 0o600 (secrets). Ignored on Windows.
 * @throws {Deno.errors.PermissionDenied} and other I/O errors; the old file is untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number } = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}${TEMP_INFIX}${crypto.randomUUID().slice(0, 8)}`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
    await file.sync();
  } catch (err) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  file.close();
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/**
 * Removes the temp files that interrupted {@link writeFileAtomic} calls left in `dir` (a
 * crash between create and rename). They may hold secrets (a hub's owner token), so a
 * program calls this at start for the folders it writes to. Only names of the atomic-write
 * pattern (`.telahubd.yaml.tmp-1a2b3c4d`, and the older `.1a2b3c4d.tmp`) are touched; a
 * writer running at the same moment in another process could lose its temp file and fail
 * its save, which it reports.
 *
 * @param dir the folder; a missing folder is not an error.
 * @returns the names removed.
 * @throws {Deno.errors.PermissionDenied} and other I/O errors other than NotFound.
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !TEMP_NAME.test(e.name)) continue;
      try {
        await Deno.remove(join(dir, e.name));
        removed.push(e.name);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return removed;
    throw err;
  }
  return removed;
}

/**
 * Reads a YAML file into a plain object.
 *
 * @param path the file.
 * @returns the parsed document, or `undefined` when the file does not exist.
 * @throws {ConfigError} when the YAML is malformed or its top level is not a mapping;
 *   the message gives the line and says to fix or remove the file.
 */
export async function readYamlFile<T = Record<string, unknown>>(
  path: string,
): Promise<T | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new ConfigError(path, `cannot read: ${(err as Error).message}`);
  }
  return parseYamlText<T>(path, text);
}

/**
 * Parses the text of a YAML config file into a plain object (an empty document is `{}`).
 *
 * @param path the file, shown in error messages.
 * @param text the file's content.
 * @throws {ConfigError} when the YAML is malformed or its top level is not a mapping;
 *   the message gives the line and says to fix or remove the file.
 */
export function parseYamlText<T = Record<string, unknown>>(path: string, text: string): T {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const first = String((err as Error).message).split("\n")[0];
    throw new ConfigError(
      path,
      `invalid YAML (${first}); fix the file or remove it to start fresh`,
    );
  }
  if (doc === null || doc === undefined) return {} as T;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(path, "expected a YAML mapping (key: value) at the top level");
  }
  return doc as T;
}

/**
 * Writes `value` as YAML atomically.
 * @param path destination.
 * @param value a plain object.
 * @param options.mode file mode, default 0o600.
 * @param options.header optional comment lines placed before the document.
 * @throws {Deno.errors.PermissionDenied} and other I/O errors of {@link writeFileAtomic};
 *   the old file is untouched.
 */
export async function writeYamlFile(
  path: string,
  value: unknown,
  options: { mode?: number; header?: string } = {},
): Promise<void> {
  const header = options.header ? options.header.replace(/^/gm, "# ") + "\n" : "";
  await writeFileAtomic(path, header + stringifyYaml(value), { mode: options.mode });
}

/**
 * The user's home folder (`HOME`, or `USERPROFILE` on Windows; `.` when neither is set).
 * Read at every call so tests can point `HOME` at a temporary folder.
 */
export function homeDir(): string {
  return Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
}
