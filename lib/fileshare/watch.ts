/**
 * The `subscribe` operation's change events (spec agent-and-client.md §2.6 `subscribe`): a
 * recursive watch of a share root mapped to `file_created`, `file_modified`, `file_deleted`
 * and `file_renamed` lines, paths relative to the root with `/`, the agent's in-flight
 * `.tela-upload-*` files and anything outside the root dropped.
 * @module
 */
import { rfc3339, UPLOAD_TEMP_PREFIX } from "./protocol.ts";

/** One change event line (spec §2.6), keys in the spec's order. */
export interface ChangeEvent {
  type: "file_created" | "file_modified" | "file_deleted" | "file_renamed";
  path: string;
  name: string;
  isDir: boolean;
  size?: number;
  modTime?: string;
}

/** The event as the agent writes it: size and modTime omitted when unknown (omitempty). */
export function encodeEvent(e: ChangeEvent): string {
  const o: Record<string, unknown> = { type: e.type, path: e.path, name: e.name, isDir: e.isDir };
  if (e.size) o.size = e.size;
  if (e.modTime) o.modTime = e.modTime;
  return JSON.stringify(o) + "\n";
}

/**
 * The events of one native notification. A rename carrying both paths becomes
 * `file_renamed` (old) then `file_created` (new), as Go reports it on Linux; a rename with one
 * path is `file_created` when the path exists now, else `file_renamed`.
 * @param root the share root (real path, no trailing `/`).
 */
export async function mapEvent(root: string, ev: Deno.FsEvent): Promise<ChangeEvent[]> {
  const out: ChangeEvent[] = [];
  const rel = (p: string) => p.startsWith(`${root}/`) ? p.slice(root.length + 1) : null;
  const make = async (
    type: ChangeEvent["type"],
    abs: string,
  ): Promise<ChangeEvent | null> => {
    const r = rel(abs);
    if (!r) return null;
    const name = r.slice(r.lastIndexOf("/") + 1);
    if (r.split("/").some((p) => p.startsWith(UPLOAD_TEMP_PREFIX))) return null;
    const e: ChangeEvent = { type, path: r, name, isDir: false };
    if (type === "file_created" || type === "file_modified") {
      const st = await Deno.lstat(abs).catch(() => null);
      if (!st) return null;
      if (st.isSymlink) return null;
      e.isDir = st.isDirectory;
      e.size = st.size;
      e.modTime = rfc3339(st.mtime);
    }
    return e;
  };
  const push = (e: ChangeEvent | null) => e && out.push(e);
  switch (ev.kind) {
    case "create":
      for (const p of ev.paths) push(await make("file_created", p));
      break;
    case "modify": {
      for (const p of ev.paths) {
        const e = await make("file_modified", p);
        if (e && !e.isDir) out.push(e);
      }
      break;
    }
    case "remove":
      for (const p of ev.paths) push(await make("file_deleted", p));
      break;
    case "rename":
      if (ev.paths.length >= 2) {
        push(await make("file_renamed", ev.paths[0]));
        push(await make("file_created", ev.paths[1]));
      } else {
        for (const p of ev.paths) {
          const exists = await Deno.lstat(p).then(() => true, () => false);
          push(await make(exists ? "file_created" : "file_renamed", p));
        }
      }
      break;
  }
  return out;
}
