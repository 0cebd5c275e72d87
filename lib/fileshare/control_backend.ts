/**
 * {@link ShareBackend} over the local control API of a running `tela connect` (spec
 * agent-and-client.md §13.4): what `tela mount` serves. Each call is one file-share request
 * through `POST /files/<machine>`; the control file is read again on every call, so a
 * restarted `tela connect` is picked up.
 *
 * Range reads: the protocol's `read` has no offset (spec §2.6; Go agents would ignore one),
 * so {@link ReadRange} is not sent to the agent: the whole file streams from byte 0
 * (`offset` 0) and the caller skips into it. Checksum and size are verified as the body is
 * read (the stream errors on a mismatch).
 * @module
 */
import {
  type Entry,
  type ReadRange,
  type ReadResult,
  type ShareBackend,
  ShareError,
  type ShareInfo,
} from "./backend.ts";
import { ControlClient } from "./control_client.ts";
import type { ShareRequest, ShareResponse } from "./protocol.ts";

/** Page size of `list` requests (spec §4.3: the WebDAV client lists 500 at a time). */
export const LIST_PAGE = 500;

/** {@link ShareBackend} through `tela connect`'s control API. */
export class ControlApiBackend implements ShareBackend {
  /**
   * @param controlFile the discovery file (default `<cfgdir>/run/control.json`).
   * @param client a fixed client instead (tests).
   */
  constructor(readonly controlFile?: string, readonly client?: ControlClient) {}

  #client(): Promise<ControlClient> {
    return this.client ? Promise.resolve(this.client) : ControlClient.discover(this.controlFile);
  }

  async #ok(machine: string, req: ShareRequest): Promise<ShareResponse> {
    const res = await (await this.#client()).request(machine, req);
    if (!res.ok) throw new ShareError(res.error ?? `${req.op} failed`);
    return res;
  }

  async machines(): Promise<string[]> {
    const c = await this.#client();
    const all = await c.tunnels();
    const probed = await Promise.all(all.map((m) => c.probe(m).catch(() => false)));
    return all.filter((_, i) => probed[i]).sort();
  }

  async shares(machine: string): Promise<ShareInfo[]> {
    const res = await this.#ok(machine, { op: "list-shares" });
    return (res.shares ?? []).map((s) => ({
      name: s.name,
      writable: s.writable === true,
      allowDelete: s.allowDelete === true,
    }));
  }

  async list(machine: string, share: string, path: string): Promise<Entry[]> {
    const out: Entry[] = [];
    for (let offset = 0;; offset += LIST_PAGE) {
      const res = await this.#ok(machine, { op: "list", share, path, offset, limit: LIST_PAGE });
      const page = res.entries ?? [];
      out.push(...page);
      if (page.length < LIST_PAGE || out.length >= (res.total ?? 0)) break;
    }
    return out;
  }

  async read(
    machine: string,
    share: string,
    path: string,
    _range?: ReadRange,
  ): Promise<ReadResult> {
    const d = await (await this.#client()).read(machine, share, path);
    return { size: d.size, modTime: d.modTime, checksum: d.checksum, offset: 0, body: d.body };
  }

  async write(
    machine: string,
    share: string,
    path: string,
    size: number,
    body: ReadableStream<Uint8Array>,
    checksum?: string,
  ): Promise<void> {
    const res = await (await this.#client()).write(machine, share, path, size, body, checksum);
    if (!res.ok) throw new ShareError(res.error ?? "write failed");
  }

  async delete(machine: string, share: string, path: string): Promise<void> {
    await this.#ok(machine, { op: "delete", share, path });
  }

  async mkdir(machine: string, share: string, path: string): Promise<void> {
    await this.#ok(machine, { op: "mkdir", share, path });
  }

  async rename(machine: string, share: string, path: string, newName: string): Promise<void> {
    await this.#ok(machine, { op: "rename", share, path, newName });
  }

  async move(machine: string, share: string, path: string, newPath: string): Promise<void> {
    await this.#ok(machine, { op: "move", share, path, newPath });
  }
}
