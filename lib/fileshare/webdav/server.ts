/**
 * The WebDAV server of `tela mount` (spec agent-and-client.md §4): RFC 4918 class 1 and 2 over a
 * {@link ShareBackend}, on `Deno.serve`. Methods: OPTIONS, PROPFIND (Depth 0 and 1; infinity is
 * refused with 403 `propfind-finite-depth`, RFC 4918 §9.1), PROPPATCH (dead properties kept in
 * memory per path), GET and HEAD (single byte ranges and conditional requests, RFC 9110 §13-§14),
 * PUT, DELETE, MKCOL, COPY, MOVE (RFC 4918 §9.8-§9.9, Destination and Overwrite), LOCK and
 * UNLOCK (in-memory exclusive and shared write locks with the `If` header, RFC 4918 §10.4).
 *
 * The server adds no rules of its own below a share: what the agent refuses (spec §2.9) comes
 * back as a {@link ShareError} and becomes a status code with the agent's text as the body.
 * Above the shares (the root and machine folders) nothing can be created, removed or moved.
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { escapeForLog, type Logger, logger } from "../../log/mod.ts";
import { type ShareBackend, ShareError, type ShareErrorCode } from "../backend.ts";
import { DavTree, type DavTreeOptions, type Resource } from "./tree.ts";
import {
  IfHeaderError,
  type IfList,
  type Lock,
  LockConflictError,
  LockManager,
  parseIfHeader,
  within,
} from "./locks.ts";
import {
  child,
  DAV_NS,
  elements,
  escapeXml,
  is,
  parseXml,
  serialize,
  type XmlElement,
  XmlError,
} from "./xml.ts";
import { contentTypeFor } from "./mime.ts";
import { limitPerMachine } from "./limit.ts";

/** Options of {@link webDavHandler}. */
export interface WebDavOptions {
  /** Listing cache and clock of the tree. */
  tree?: DavTreeOptions;
  /** Where request lines go (default: component `webdav`). */
  log?: Logger;
  /** Backend calls at once per machine (default 2: limit.ts DEFAULT_PER_MACHINE). */
  perMachine?: number;
}

/** Host names the server answers to (it listens on 127.0.0.1 only, spec §4.1). */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Largest XML request body read, bytes. */
const MAX_XML_BODY = 1 << 20;
/** Lock timeout when the client asks for none, seconds. */
const DEFAULT_LOCK_SECONDS = 3600;
/** Longest lock timeout granted (Infinite included), seconds. */
const MAX_LOCK_SECONDS = 86400;

/** A request is answered with this status (and text) instead of going on. */
class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  constructor(status: number, message: string, body?: string, headers?: Record<string, string>) {
    super(message);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

const STATUS_FOR: Record<ShareErrorCode, number> = {
  "not-found": 404,
  "exists": 405,
  "forbidden": 403,
  "too-large": 413,
  "invalid": 400,
  "unavailable": 502,
};

/** The HTTP status for a refusal of the agent (the decision table of issue 12). */
export function statusForShareError(e: ShareError): number {
  if (e.message === "would exceed total size limit") return 507; // RFC 4918 §11.5
  return STATUS_FOR[e.code];
}

const LIVE_PROPS = [
  "creationdate",
  "displayname",
  "getcontentlength",
  "getcontenttype",
  "getetag",
  "getlastmodified",
  "resourcetype",
  "lockdiscovery",
  "supportedlock",
];
const LIVE_SET = new Set(LIVE_PROPS);

function segsKey(segs: string[]): string {
  return "/" + segs.join("/");
}

/** Percent-encodes a path for an href; collections end with `/`. */
export function hrefOf(segs: string[], isDir: boolean): string {
  const p = "/" + segs.map((s) => encodeURIComponent(s)).join("/");
  return isDir && segs.length ? p + "/" : p;
}

/**
 * Decodes a URL path into segments.
 * @throws HttpError 400 for `.`/`..`, encoded slashes, NUL, or bad percent-encoding.
 */
function decodePath(pathname: string): string[] {
  const out: string[] = [];
  for (const raw of pathname.split("/")) {
    if (!raw) continue;
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      throw new HttpError(400, `bad percent-encoding in path segment "${raw}"`);
    }
    if (s === "." || s === ".." || s.includes("/") || s.includes("\\") || s.includes("\0")) {
      throw new HttpError(400, `path segment "${raw}" is not allowed`);
    }
    out.push(s);
  }
  return out;
}

/** `"<mtime ns hex>-<size hex>"` (spec §4.2). */
export function etagOf(modTime: Date, size: number): string {
  return `"${(BigInt(modTime.getTime()) * 1_000_000n).toString(16)}-${size.toString(16)}"`;
}

function httpDate(d: Date): string {
  return d.toUTCString();
}

function isoDate(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function plain(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text ? text + "\n" : null, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

function xmlResponse(status: number, body: string, headers: Record<string, string> = {}) {
  return new Response(`<?xml version="1.0" encoding="utf-8"?>\n${body}`, {
    status,
    headers: { "content-type": "application/xml; charset=utf-8", ...headers },
  });
}

function davError(status: number, condition: string, href?: string): HttpError {
  const inner = href
    ? `<D:${condition}><D:href>${escapeXml(href)}</D:href></D:${condition}>`
    : `<D:${condition}/>`;
  return new HttpError(
    status,
    condition,
    `<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:">${inner}</D:error>`,
    { "content-type": "application/xml; charset=utf-8" },
  );
}

async function readXmlBody(req: Request): Promise<XmlElement | null> {
  if (!req.body) return null;
  const len = Number(req.headers.get("content-length") ?? "NaN");
  if (len > MAX_XML_BODY) throw new HttpError(413, `XML body over ${MAX_XML_BODY} bytes`);
  const buf = new Uint8Array(await req.arrayBuffer());
  if (buf.length > MAX_XML_BODY) throw new HttpError(413, `XML body over ${MAX_XML_BODY} bytes`);
  const text = new TextDecoder().decode(buf);
  if (!text.trim()) return null;
  try {
    return parseXml(text);
  } catch (e) {
    if (e instanceof XmlError) throw new HttpError(400, e.message);
    throw e;
  }
}

function propKey(ns: string, local: string): string {
  return `{${ns}}${local}`;
}

/** Splits a byte stream: drops `skip` bytes, then passes `take` bytes (Infinity: all). */
function sliceStream(
  body: ReadableStream<Uint8Array>,
  skip: number,
  take: number,
): ReadableStream<Uint8Array> {
  if (skip === 0 && take === Infinity) return body;
  const reader = body.getReader();
  let toSkip = skip;
  let left = take;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      for (;;) {
        if (left <= 0) {
          ctl.close();
          await reader.cancel().catch(() => {});
          return;
        }
        const { done, value } = await reader.read();
        if (done) return ctl.close();
        let chunk = value;
        if (toSkip > 0) {
          if (chunk.length <= toSkip) {
            toSkip -= chunk.length;
            continue;
          }
          chunk = chunk.subarray(toSkip);
          toSkip = 0;
        }
        if (chunk.length > left) chunk = chunk.subarray(0, left);
        left -= chunk.length;
        ctl.enqueue(chunk);
        return;
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Parses one `bytes=` range (RFC 9110 §14.1.2) against `size`; null when absent or multiple. */
function parseRange(
  header: string | null,
  size: number,
): { start: number; end: number } | null | "bad" {
  if (!header) return null;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!m) return header.includes(",") ? null : "bad";
  if (m[1] === "" && m[2] === "") return "bad";
  let start: number, end: number;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return "bad";
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return "bad";
  }
  if (start >= size) return "bad";
  return { start, end };
}

function etagMatches(list: string, etag: string | undefined, weak: boolean): boolean {
  if (list.trim() === "*") return etag !== undefined;
  if (!etag) return false;
  const strip = (t: string) => weak ? t.replace(/^W\//, "") : t;
  return list.split(",").map((t) => t.trim()).some((t) => strip(t) === strip(etag));
}

/**
 * Builds the request handler of the WebDAV server over `backend`.
 * @param backend the file shares (spec §4.3).
 * @param opts cache times and the logger.
 * @returns a handler for `Deno.serve`; it never throws (failures become responses).
 */
export function webDavHandler(
  backend: ShareBackend,
  opts: WebDavOptions = {},
): (req: Request) => Promise<Response> {
  const server = new WebDavServer(backend, opts);
  return (req) => server.handle(req);
}

/**
 * Serves WebDAV on `hostname:port` (spec §4.1: 127.0.0.1 only) until `signal` aborts.
 * @param o.backend the file shares; o.port TCP port (0 picks one); o.hostname default 127.0.0.1.
 * @returns the running server (`.addr.port` is the bound port, `.finished` resolves when closed).
 * @throws Deno.errors.AddrInUse (and other listen errors) when the port cannot be bound.
 */
export function serveWebDav(o: {
  backend: ShareBackend;
  port: number;
  hostname?: string;
  signal?: AbortSignal;
  options?: WebDavOptions;
}): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname: o.hostname ?? "127.0.0.1",
    port: o.port,
    signal: o.signal,
    onListen: () => {},
  }, webDavHandler(o.backend, o.options));
}

/** The If header of a request, evaluated. */
interface IfState {
  /** Present and true, or absent. */
  ok: boolean;
  /** State tokens named anywhere in it (submitted lock tokens, RFC 4918 §10.4.1). */
  tokens: Set<string>;
}

class WebDavServer {
  readonly tree: DavTree;
  readonly locks = new LockManager();
  /** Dead properties by path key, then by `{ns}local`. */
  readonly props = new Map<string, Map<string, XmlElement>>();
  readonly log: Logger;

  constructor(backend: ShareBackend, opts: WebDavOptions) {
    this.tree = new DavTree(limitPerMachine(backend, opts.perMachine), opts.tree);
    this.log = opts.log ?? logger("webdav");
  }

  async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    let res: Response;
    let what = "";
    try {
      if (url.hash) throw new HttpError(400, "request URI must not carry a fragment");
      // A web page whose name was rebound to 127.0.0.1 would be same-origin here: only the
      // loopback names are served (DNS rebinding; the server has no credentials of its own).
      if (!LOOPBACK_HOSTS.has(url.hostname)) {
        throw new HttpError(
          403,
          `Host "${url.hostname}" is not a loopback name: use http://127.0.0.1:${url.port}/`,
        );
      }
      res = await this.dispatch(req, url);
    } catch (e) {
      if (e instanceof HttpError) {
        what = e.message;
        res = e.body !== undefined
          ? new Response(e.body, { status: e.status, headers: e.headers })
          : plain(e.status, e.message, e.headers);
      } else if (e instanceof ShareError) {
        what = e.message;
        res = plain(statusForShareError(e), e.message);
      } else {
        what = `internal error: ${(e as Error)?.stack ?? e}`;
        res = plain(500, `internal error: ${(e as Error)?.message ?? e}`);
      }
    }
    const depth = req.headers.get("depth");
    const line = `${req.method} ${escapeForLog(decodeSafe(url.pathname))}${
      depth !== null ? ` (Depth: ${escapeForLog(depth)})` : ""
    } -> ${res.status}${what ? `: ${escapeForLog(what)}` : ""}`;
    if (res.status >= 500 || (res.status >= 400 && res.status !== 404)) this.log.info(line);
    else this.log.debug(line);
    // Responses are never compressed: sizes and ranges must stay exact for mount clients.
    if (!res.headers.has("cache-control")) res.headers.set("cache-control", "no-transform");
    return res;
  }

  dispatch(req: Request, url: URL): Promise<Response> {
    const segs = decodePath(url.pathname);
    switch (req.method) {
      case "OPTIONS":
        return this.options(segs);
      case "PROPFIND":
        return this.propfind(req, segs);
      case "PROPPATCH":
        return this.proppatch(req, segs);
      case "GET":
      case "HEAD":
        return this.get(req, segs);
      case "PUT":
        return this.put(req, segs);
      case "DELETE":
        return this.delete(req, segs);
      case "MKCOL":
        return this.mkcol(req, segs);
      case "COPY":
      case "MOVE":
        return this.copyMove(req, url, segs, req.method === "MOVE");
      case "LOCK":
        return this.lock(req, segs);
      case "UNLOCK":
        return this.unlock(req, segs);
      default:
        throw new HttpError(405, `method ${req.method} is not supported`, undefined, {
          allow:
            "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK",
        });
    }
  }

  // ---- helpers ---------------------------------------------------------------------------

  async mustStat(segs: string[]): Promise<Resource> {
    const r = await this.tree.stat(segs);
    if (!r) throw new HttpError(404, `${segsKey(segs)} not found`);
    return r;
  }

  /** Parent must be an existing collection (RFC 4918 §9.3.1, §9.7.1: 409 otherwise). */
  async requireParent(segs: string[]): Promise<void> {
    const p = await this.tree.stat(segs.slice(0, -1));
    if (!p || !p.isDir) {
      throw new HttpError(409, `parent collection of ${segsKey(segs)} does not exist`);
    }
  }

  requireInShare(segs: string[], what: string): void {
    if (segs.length < 3) {
      throw new HttpError(
        403,
        `${what} ${
          segsKey(segs)
        }: only files and folders inside a share (/<machine>/<share>/...) can be changed`,
      );
    }
  }

  /** Evaluates the If header (RFC 4918 §10.4) against the request resource. */
  async ifState(req: Request, segs: string[], base: URL): Promise<IfState> {
    const h = req.headers.get("if");
    if (h === null) return { ok: true, tokens: new Set() };
    let lists: IfList[];
    try {
      lists = parseIfHeader(h);
    } catch (e) {
      if (e instanceof IfHeaderError) throw new HttpError(400, e.message);
      throw e;
    }
    const tokens = new Set<string>();
    for (const l of lists) {
      for (const c of l.conditions) if (c.token && c.token !== "DAV:no-lock") tokens.add(c.token);
    }
    const etags = new Map<string, string | undefined>();
    const etagFor = async (target: string[]) => {
      const k = segsKey(target);
      if (!etags.has(k)) {
        const r = await this.tree.stat(target).catch(() => null);
        etags.set(k, r && !r.isDir ? etagOf(r.modTime, r.size) : undefined);
      }
      return etags.get(k);
    };
    for (const l of lists) {
      let target = segs;
      if (l.resource !== undefined) {
        try {
          target = decodePath(new URL(l.resource, base).pathname);
        } catch {
          continue;
        }
      }
      let all = true;
      for (const c of l.conditions) {
        let v: boolean;
        if (c.token !== undefined) {
          const lock = this.locks.get(c.token);
          v = !!lock && within(segsKey(target), lock.root);
        } else {
          const e = await etagFor(target);
          v = !!e && e.replace(/^W\//, "") === c.etag!.replace(/^W\//, "");
        }
        if (c.not) v = !v;
        if (!v) {
          all = false;
          break;
        }
      }
      if (all) return { ok: true, tokens };
    }
    return { ok: false, tokens };
  }

  /**
   * Refuses the change of `targets` when locked without a submitted token (423), or when the
   * If header is false (412). `recursive` targets include the locks below them; `member`
   * targets also need the tokens of depth-0 locks on their parent (membership changes).
   */
  async checkWrite(
    req: Request,
    url: URL,
    reqSegs: string[],
    targets: { segs: string[]; recursive?: boolean; member?: boolean }[],
  ): Promise<void> {
    const st = await this.ifState(req, reqSegs, url);
    for (const t of targets) {
      const key = segsKey(t.segs);
      const groups: Lock[][] = [];
      const covering = this.locks.covering(key);
      if (t.member && t.segs.length) {
        const parentKey = segsKey(t.segs.slice(0, -1));
        for (const l of this.locks.covering(parentKey)) {
          if (l.depth === "0" && l.root === parentKey) covering.push(l);
        }
      }
      if (covering.length) groups.push(covering);
      if (t.recursive) {
        const byRoot = new Map<string, Lock[]>();
        for (const l of this.locks.below(key)) {
          if (l.root === key) continue;
          byRoot.set(l.root, [...(byRoot.get(l.root) ?? []), l]);
        }
        groups.push(...byRoot.values());
      }
      for (const g of groups) {
        if (!g.some((l) => st.tokens.has(l.token))) {
          // A false If header that names no lock token at all is a failed precondition (412);
          // one naming tokens that are not this resource's lock is a lock failure (423).
          if (!st.ok && st.tokens.size === 0) break;
          throw davError(
            423,
            "lock-token-submitted",
            hrefOf(g[0].root.split("/").filter(Boolean), false),
          );
        }
      }
    }
    if (!st.ok) throw new HttpError(412, "the If header's conditions are not met");
  }

  propsOf(segs: string[]): Map<string, XmlElement> | undefined {
    return this.props.get(segsKey(segs));
  }

  dropProps(segs: string[]): void {
    const k = segsKey(segs);
    for (const p of [...this.props.keys()]) if (within(p, k)) this.props.delete(p);
  }

  moveProps(from: string[], to: string[], keepSource: boolean): void {
    const a = segsKey(from);
    const b = segsKey(to);
    this.dropProps(to);
    for (const [p, v] of [...this.props]) {
      if (!within(p, a)) continue;
      this.props.set(b + p.slice(a.length), new Map(v));
      if (!keepSource) this.props.delete(p);
    }
  }

  // ---- methods ---------------------------------------------------------------------------

  async options(segs: string[]): Promise<Response> {
    const r = segs.length ? await this.tree.stat(segs).catch(() => null) : await this.mustStat([]);
    const allow = !r
      ? "OPTIONS, LOCK, PUT, MKCOL"
      : r.isDir
      ? "OPTIONS, LOCK, UNLOCK, DELETE, PROPPATCH, COPY, MOVE, PROPFIND, GET, HEAD"
      : "OPTIONS, LOCK, UNLOCK, GET, HEAD, DELETE, PROPPATCH, COPY, MOVE, PROPFIND, PUT";
    return new Response(null, {
      status: 200,
      headers: { allow, dav: "1, 2", "ms-author-via": "DAV", "content-length": "0" },
    });
  }

  liveProp(r: Resource, local: string): string | undefined {
    const last = r.segs[r.segs.length - 1] ?? "";
    switch (local) {
      case "creationdate":
        return `<D:creationdate>${isoDate(r.modTime)}</D:creationdate>`;
      case "displayname":
        return `<D:displayname>${escapeXml(last)}</D:displayname>`;
      case "getcontentlength":
        return r.isDir ? undefined : `<D:getcontentlength>${r.size}</D:getcontentlength>`;
      case "getcontenttype":
        return r.isDir
          ? undefined
          : `<D:getcontenttype>${escapeXml(contentTypeFor(last))}</D:getcontenttype>`;
      case "getetag":
        return r.isDir
          ? undefined
          : `<D:getetag>${escapeXml(etagOf(r.modTime, r.size))}</D:getetag>`;
      case "getlastmodified":
        return `<D:getlastmodified>${httpDate(r.modTime)}</D:getlastmodified>`;
      case "resourcetype":
        return r.isDir ? "<D:resourcetype><D:collection/></D:resourcetype>" : "<D:resourcetype/>";
      case "lockdiscovery":
        return `<D:lockdiscovery>${
          this.locks.covering(segsKey(r.segs)).map((l) => activeLock(l)).join("")
        }</D:lockdiscovery>`;
      case "supportedlock":
        return "<D:supportedlock>" +
          "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>" +
          "<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>" +
          "</D:supportedlock>";
    }
    return undefined;
  }

  async propfind(req: Request, segs: string[]): Promise<Response> {
    const depth = (req.headers.get("depth") ?? "infinity").toLowerCase();
    if (depth !== "0" && depth !== "1") {
      if (depth === "infinity") throw davError(403, "propfind-finite-depth");
      throw new HttpError(400, `Depth: ${depth} is not 0, 1 or infinity`);
    }
    const body = await readXmlBody(req);
    let mode: "allprop" | "propname" | "prop" = "allprop";
    let names: XmlElement[] = [];
    let include: XmlElement[] = [];
    if (body) {
      if (!is(body, DAV_NS, "propfind")) throw new HttpError(400, "body is not DAV:propfind");
      const first = elements(body).find((e) => e.ns === DAV_NS);
      if (!first) throw new HttpError(400, "DAV:propfind is empty");
      if (first.local === "propname") mode = "propname";
      else if (first.local === "prop") {
        mode = "prop";
        names = elements(first);
      } else if (first.local === "allprop") {
        include = elements(child(body, DAV_NS, "include") ?? first);
      } else throw new HttpError(400, `unexpected DAV:${first.local} in DAV:propfind`);
    }
    const r = await this.mustStat(segs);
    const all = [r];
    if (depth === "1" && r.isDir) all.push(...await this.tree.children(segs));
    let out = '<D:multistatus xmlns:D="DAV:">';
    for (const res of all) out += this.propResponse(res, mode, names, include);
    out += "</D:multistatus>";
    return xmlResponse(207, out);
  }

  propResponse(r: Resource, mode: string, names: XmlElement[], include: XmlElement[]): string {
    const found: string[] = [];
    const missing: string[] = [];
    const dead = this.propsOf(r.segs);
    if (mode === "propname") {
      for (const p of LIVE_PROPS) if (this.liveProp(r, p) !== undefined) found.push(`<D:${p}/>`);
      for (const el of dead?.values() ?? []) {
        found.push(serialize({ ns: el.ns, local: el.local, attrs: [], children: [] }));
      }
    } else if (mode === "allprop") {
      for (const p of LIVE_PROPS) {
        const v = this.liveProp(r, p);
        if (v !== undefined) found.push(v);
      }
      for (const el of dead?.values() ?? []) found.push(serialize(el));
      for (const n of include) {
        if (n.ns === DAV_NS && LIVE_SET.has(n.local)) continue;
        if (!dead?.has(propKey(n.ns, n.local))) {
          missing.push(serialize({ ns: n.ns, local: n.local, attrs: [], children: [] }));
        }
      }
    } else {
      for (const n of names) {
        const v = n.ns === DAV_NS ? this.liveProp(r, n.local) : undefined;
        const d = dead?.get(propKey(n.ns, n.local));
        if (v !== undefined) found.push(v);
        else if (d) found.push(serialize(d));
        else missing.push(serialize({ ns: n.ns, local: n.local, attrs: [], children: [] }));
      }
    }
    let s = `<D:response><D:href>${escapeXml(hrefOf(r.segs, r.isDir))}</D:href>`;
    if (found.length || !missing.length) {
      s += `<D:propstat><D:prop>${
        found.join("")
      }</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>`;
    }
    if (missing.length) {
      s += `<D:propstat><D:prop>${
        missing.join("")
      }</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>`;
    }
    return s + "</D:response>";
  }

  async proppatch(req: Request, segs: string[]): Promise<Response> {
    const url = new URL(req.url);
    const body = await readXmlBody(req);
    if (!body || !is(body, DAV_NS, "propertyupdate")) {
      throw new HttpError(400, "PROPPATCH needs a DAV:propertyupdate body");
    }
    const r = await this.mustStat(segs);
    await this.checkWrite(req, url, segs, [{ segs }]);
    const ops: { set: boolean; el: XmlElement }[] = [];
    for (const op of elements(body)) {
      if (op.ns !== DAV_NS || (op.local !== "set" && op.local !== "remove")) continue;
      const prop = child(op, DAV_NS, "prop");
      if (!prop) throw new HttpError(400, `DAV:${op.local} without DAV:prop`);
      for (const el of elements(prop)) ops.push({ set: op.local === "set", el });
    }
    const protectedOnes = ops.filter((o) => o.el.ns === DAV_NS && LIVE_SET.has(o.el.local));
    const name = (el: XmlElement) =>
      serialize({ ns: el.ns, local: el.local, attrs: [], children: [] });
    let out = `<D:multistatus xmlns:D="DAV:"><D:response><D:href>${
      escapeXml(hrefOf(r.segs, r.isDir))
    }</D:href>`;
    if (protectedOnes.length) {
      const failed = new Set(protectedOnes);
      out += `<D:propstat><D:prop>${protectedOnes.map((o) => name(o.el)).join("")}</D:prop>` +
        `<D:status>HTTP/1.1 403 Forbidden</D:status>` +
        `<D:error><D:cannot-modify-protected-property/></D:error></D:propstat>`;
      const rest = ops.filter((o) => !failed.has(o));
      if (rest.length) {
        out += `<D:propstat><D:prop>${rest.map((o) => name(o.el)).join("")}</D:prop>` +
          `<D:status>HTTP/1.1 424 Failed Dependency</D:status></D:propstat>`;
      }
    } else {
      const key = segsKey(segs);
      const next = new Map(this.props.get(key) ?? []);
      for (const o of ops) {
        if (o.set) next.set(propKey(o.el.ns, o.el.local), o.el);
        else next.delete(propKey(o.el.ns, o.el.local));
      }
      if (next.size) this.props.set(key, next);
      else this.props.delete(key);
      if (ops.length) {
        out += `<D:propstat><D:prop>${ops.map((o) => name(o.el)).join("")}</D:prop>` +
          `<D:status>HTTP/1.1 200 OK</D:status></D:propstat>`;
      }
    }
    return xmlResponse(207, out + "</D:response></D:multistatus>");
  }

  async get(req: Request, segs: string[]): Promise<Response> {
    const head = req.method === "HEAD";
    const r = await this.mustStat(segs);
    if (r.isDir) return this.dirPage(r, head);
    const name = segs[segs.length - 1];
    let size = r.size;
    let modTime = r.modTime;
    let body: ReadableStream<Uint8Array> | null = null;
    let bodyOffset = 0;
    const wantRange = req.headers.get("range");
    const empty = this.tree.isEmptyFile(segs);
    if (!head && !empty) {
      // The read header is authoritative (the listing may be up to the cache TTL old).
      const pre = parseRange(wantRange, size);
      const hint = pre && pre !== "bad" ? { offset: pre.start } : undefined;
      const rd = await this.tree.backend.read(...this.loc(segs), hint);
      size = rd.size;
      if (rd.modTime) {
        const t = new Date(rd.modTime);
        if (!isNaN(t.getTime())) modTime = t;
      }
      body = rd.body;
      bodyOffset = rd.offset ?? 0;
    }
    const etag = etagOf(modTime, size);
    const headers: Record<string, string> = {
      etag,
      "last-modified": httpDate(modTime),
      "content-type": contentTypeFor(name),
      "accept-ranges": "bytes",
    };
    const cancel = () => body?.cancel().catch(() => {});
    // Conditional requests (RFC 9110 §13.2.2 order).
    const ifMatch = req.headers.get("if-match");
    if (ifMatch !== null && !etagMatches(ifMatch, etag, false)) {
      cancel();
      return plain(412, "If-Match does not match", headers);
    }
    const ius = req.headers.get("if-unmodified-since");
    if (ifMatch === null && ius !== null) {
      const t = Date.parse(ius);
      if (!isNaN(t) && Math.floor(modTime.getTime() / 1000) > Math.floor(t / 1000)) {
        cancel();
        return plain(412, "modified since If-Unmodified-Since", headers);
      }
    }
    const inm = req.headers.get("if-none-match");
    const ims = req.headers.get("if-modified-since");
    if (
      (inm !== null && etagMatches(inm, etag, true)) ||
      (inm === null && ims !== null && !isNaN(Date.parse(ims)) &&
        Math.floor(modTime.getTime() / 1000) <= Math.floor(Date.parse(ims) / 1000))
    ) {
      cancel();
      return new Response(null, { status: 304, headers });
    }
    let range = parseRange(wantRange, size);
    const ifRange = req.headers.get("if-range");
    if (range && ifRange !== null && ifRange !== etag && ifRange !== httpDate(modTime)) {
      range = null;
    }
    if (range === "bad") {
      cancel();
      return plain(416, `range not satisfiable for ${size} bytes`, {
        ...headers,
        "content-range": `bytes */${size}`,
      });
    }
    const start = range ? range.start : 0;
    const len = range ? range.end - range.start + 1 : size;
    headers["content-length"] = String(len);
    if (range) headers["content-range"] = `bytes ${range.start}-${range.end}/${size}`;
    const status = range ? 206 : 200;
    if (head || !body || len === 0) {
      cancel();
      return new Response(null, { status, headers });
    }
    return new Response(sliceStream(body, start - bodyOffset, len), { status, headers });
  }

  async dirPage(r: Resource, head: boolean): Promise<Response> {
    const headers = { "content-type": "text/html; charset=utf-8" };
    if (head) return new Response(null, { status: 200, headers });
    const kids = await this.tree.children(r.segs);
    const title = escapeXml(segsKey(r.segs));
    const rows = kids.map((k) => {
      const n = k.segs[k.segs.length - 1];
      return `<li><a href="${escapeXml(hrefOf(k.segs, k.isDir))}">${escapeXml(n)}${
        k.isDir ? "/" : ""
      }</a>${k.isDir ? "" : ` ${k.size} bytes`}</li>`;
    }).join("\n");
    return new Response(
      `<!doctype html><meta charset="utf-8"><title>${title}</title><h1>${title}</h1><ul>\n${rows}\n</ul>\n`,
      { status: 200, headers },
    );
  }

  loc(segs: string[]): [string, string, string] {
    const l = this.tree.location(segs)!;
    return [l.machine, l.share, l.path];
  }

  async put(req: Request, segs: string[]): Promise<Response> {
    const url = new URL(req.url);
    try {
      this.requireInShare(segs, "PUT");
      const r = await this.tree.stat(segs);
      if (r?.isDir) throw new HttpError(405, `${segsKey(segs)} is a collection`);
      if (!r) await this.requireParent(segs);
      await this.checkWrite(req, url, segs, [{ segs, member: !r }]);
      const inm = req.headers.get("if-none-match");
      if (inm?.trim() === "*" && r) throw new HttpError(412, `${segsKey(segs)} exists`);
      const im = req.headers.get("if-match");
      if (im !== null && !etagMatches(im, r ? etagOf(r.modTime, r.size) : undefined, false)) {
        throw new HttpError(412, "If-Match does not match");
      }
      const lenHeader = req.headers.get("content-length") ??
        req.headers.get("x-expected-entity-length");
      const declared = lenHeader !== null && /^\d+$/.test(lenHeader) ? Number(lenHeader) : NaN;
      if (declared === 0 || (!req.body && isNaN(declared))) {
        await req.body?.cancel();
        await this.putEmpty(segs, r);
      } else if (!isNaN(declared)) {
        await this.tree.backend.write(...this.loc(segs), declared, req.body!);
        this.tree.dropEmptyFiles(segs);
      } else {
        await this.putBuffered(req.body!, segs, r);
      }
      this.tree.invalidate(segs);
      return new Response(null, { status: r ? 204 : 201 });
    } finally {
      if (req.body && !req.bodyUsed) await req.body.cancel().catch(() => {});
    }
  }

  /** An empty file: kept by this server (the protocol cannot store empty files). */
  async putEmpty(segs: string[], existing: Resource | null): Promise<void> {
    if (existing && !this.tree.isEmptyFile(segs) && existing.size > 0) {
      try {
        await this.tree.backend.delete(...this.loc(segs));
      } catch (e) {
        if (e instanceof ShareError && e.code === "forbidden") {
          throw new HttpError(
            403,
            `cannot empty ${
              segsKey(segs)
            }: the file-share protocol stores no empty files, and replacing one by an empty file needs delete (${e.message})`,
          );
        }
        throw e;
      }
    }
    this.tree.addEmptyFile(segs);
  }

  /** A body of unknown length: buffered to a temporary file, then uploaded with its checksum. */
  async putBuffered(body: ReadableStream<Uint8Array>, segs: string[], r: Resource | null) {
    const tmp = await Deno.makeTempFile({ prefix: "tela-mount-write-" });
    try {
      const h = sha256.create();
      let size = 0;
      const f = await Deno.open(tmp, { write: true });
      try {
        for await (const chunk of body) {
          h.update(chunk);
          size += chunk.length;
          let off = 0;
          while (off < chunk.length) off += await f.write(chunk.subarray(off));
        }
      } finally {
        f.close();
      }
      if (size === 0) return await this.putEmpty(segs, r);
      const sum = "sha256:" + [...h.digest()].map((b) => b.toString(16).padStart(2, "0")).join("");
      const rf = await Deno.open(tmp, { read: true });
      await this.tree.backend.write(...this.loc(segs), size, rf.readable, sum);
      this.tree.dropEmptyFiles(segs);
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  async delete(req: Request, segs: string[]): Promise<Response> {
    const url = new URL(req.url);
    this.requireInShare(segs, "DELETE");
    const r = await this.mustStat(segs);
    await this.checkWrite(req, url, segs, [{ segs, recursive: true, member: true }]);
    try {
      await this.removeTree(r);
    } finally {
      this.tree.invalidate(segs);
    }
    this.locks.removeBelow(segsKey(segs));
    this.dropProps(segs);
    return new Response(null, { status: 204 });
  }

  /** Deletes a file or a collection with everything in it (RFC 4918 §9.6.1). */
  async removeTree(r: Resource): Promise<void> {
    if (!r.isDir && this.tree.dropEmptyFiles(r.segs)) return;
    if (r.isDir) {
      for (const k of await this.tree.children(r.segs)) await this.removeTree(k);
      this.tree.dropEmptyFiles(r.segs);
    }
    await this.tree.backend.delete(...this.loc(r.segs));
  }

  async mkcol(req: Request, segs: string[]): Promise<Response> {
    const url = new URL(req.url);
    const len = req.headers.get("content-length");
    if ((len !== null && len !== "0") || req.headers.has("transfer-encoding")) {
      await req.body?.cancel();
      throw new HttpError(415, "MKCOL with a request body is not supported");
    }
    if (segs.length < 3) {
      if (await this.tree.stat(segs).catch(() => null)) {
        throw new HttpError(405, `${segsKey(segs)} exists`);
      }
      this.requireInShare(segs, "MKCOL");
    }
    if (await this.tree.stat(segs)) throw new HttpError(405, `${segsKey(segs)} exists`);
    await this.requireParent(segs);
    await this.checkWrite(req, url, segs, [{ segs, member: true }]);
    try {
      await this.tree.backend.mkdir(...this.loc(segs));
    } catch (e) {
      if (e instanceof ShareError && e.code === "not-found") {
        throw new HttpError(409, e.message);
      }
      throw e;
    } finally {
      this.tree.invalidate(segs);
    }
    return new Response(null, { status: 201 });
  }

  async copyMove(req: Request, url: URL, segs: string[], move: boolean): Promise<Response> {
    const method = move ? "MOVE" : "COPY";
    const destHeader = req.headers.get("destination");
    if (!destHeader) throw new HttpError(400, `${method} needs a Destination header`);
    let dest: URL;
    try {
      dest = new URL(destHeader, url);
    } catch {
      throw new HttpError(400, `Destination "${destHeader}" is not a URL`);
    }
    if (dest.host !== url.host) {
      throw new HttpError(502, `Destination host ${dest.host} is not this server (${url.host})`);
    }
    const to = decodePath(dest.pathname);
    const depthH = (req.headers.get("depth") ?? "infinity").toLowerCase();
    if (move ? depthH !== "infinity" : depthH !== "0" && depthH !== "infinity") {
      throw new HttpError(400, `${method} with Depth: ${depthH} is not allowed`);
    }
    const overwriteH = (req.headers.get("overwrite") ?? "T").toUpperCase();
    if (overwriteH !== "T" && overwriteH !== "F") {
      throw new HttpError(400, `Overwrite: ${overwriteH} is not T or F`);
    }
    this.requireInShare(segs, method);
    this.requireInShare(to, `${method} to`);
    const from = segsKey(segs);
    const toKey = segsKey(to);
    if (from === toKey) throw new HttpError(403, "source and destination are the same");
    const src = await this.mustStat(segs);
    if (src.isDir && within(toKey, from)) {
      throw new HttpError(403, `cannot ${method} ${from} into itself (${toKey})`);
    }
    await this.requireParent(to);
    const existing = await this.tree.stat(to);
    const targets = [{ segs: to, recursive: true, member: true }];
    if (move) targets.push({ segs, recursive: true, member: true });
    await this.checkWrite(req, url, segs, targets);
    if (existing) {
      if (overwriteH === "F") throw new HttpError(412, `${toKey} exists and Overwrite is F`);
      // RFC 4918 §9.8.4, §9.9.3: the destination is deleted first (the agent's move and
      // rename also refuse existing destinations).
      await this.removeTree(existing);
      this.tree.invalidate(to);
      this.dropProps(to);
    }
    try {
      if (move && this.sameShare(segs, to)) {
        if (this.tree.isEmptyFile(segs)) {
          this.tree.moveEmptyFiles(segs, to);
        } else {
          const [m, s, p] = this.loc(segs);
          const np = this.loc(to)[2];
          const sameDir = segs.slice(0, -1).join("/") === to.slice(0, -1).join("/");
          try {
            if (sameDir) await this.tree.backend.rename(m, s, p, to[to.length - 1]);
            else await this.tree.backend.move(m, s, p, np);
          } catch (e) {
            if (e instanceof ShareError && e.code === "not-found" && !sameDir) {
              throw new HttpError(409, e.message);
            }
            throw e;
          }
          this.tree.moveEmptyFiles(segs, to);
        }
        this.moveProps(segs, to, false);
        this.locks.removeBelow(from);
      } else {
        await this.copyTree(src, to, move || depthH === "infinity");
        this.moveProps(segs, to, true);
        if (!move && depthH === "0") {
          for (const k of [...this.props.keys()]) {
            if (k !== toKey && within(k, toKey)) this.props.delete(k);
          }
        }
        if (move) {
          await this.removeTree(src);
          this.dropProps(segs);
          this.locks.removeBelow(from);
        }
      }
    } finally {
      this.tree.invalidate(segs);
      this.tree.invalidate(to);
    }
    return new Response(null, { status: existing ? 204 : 201 });
  }

  sameShare(a: string[], b: string[]): boolean {
    return a[0] === b[0] && a[1] === b[1];
  }

  /** Copies `src` to `to` through the backend (read then write; collections recursively). */
  async copyTree(src: Resource, to: string[], deep: boolean): Promise<void> {
    if (src.isDir) {
      await this.tree.backend.mkdir(...this.loc(to));
      this.tree.invalidate(to);
      if (!deep) return;
      for (const k of await this.tree.children(src.segs)) {
        await this.copyTree(k, [...to, k.segs[k.segs.length - 1]], true);
      }
      return;
    }
    if (this.tree.isEmptyFile(src.segs)) {
      this.tree.addEmptyFile(to);
      return;
    }
    // Downloaded to a temporary file first, so one request never holds two of the machine's
    // file-share connections at once (limit.ts; Go's mount did the same, spec §4.3).
    const tmp = await Deno.makeTempFile({ prefix: "tela-mount-read-" });
    try {
      const rd = await this.tree.backend.read(...this.loc(src.segs));
      const f = await Deno.open(tmp, { write: true });
      try {
        for await (const chunk of rd.body) {
          let off = 0;
          while (off < chunk.length) off += await f.write(chunk.subarray(off));
        }
      } finally {
        f.close();
      }
      if (rd.size === 0) {
        this.tree.addEmptyFile(to);
        return;
      }
      const rf = await Deno.open(tmp, { read: true });
      await this.tree.backend.write(...this.loc(to), rd.size, rf.readable, rd.checksum);
      this.tree.dropEmptyFiles(to);
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  async lock(req: Request, segs: string[]): Promise<Response> {
    const url = new URL(req.url);
    const key = segsKey(segs);
    const timeout = lockTimeout(req.headers.get("timeout"));
    const body = await readXmlBody(req);
    if (!body) {
      // Refresh (RFC 4918 §9.10.2): the lock's token comes in the If header.
      const st = await this.ifState(req, segs, url);
      const lock = [...st.tokens].map((t) => this.locks.get(t)).find((l) =>
        l && within(key, l.root)
      );
      if (!lock) {
        throw davError(412, "lock-token-matches-request-uri");
      }
      this.locks.refresh(lock, timeout);
      return xmlResponse(
        200,
        `<D:prop xmlns:D="DAV:"><D:lockdiscovery>${activeLock(lock)}</D:lockdiscovery></D:prop>`,
      );
    }
    if (!is(body, DAV_NS, "lockinfo")) throw new HttpError(400, "LOCK body is not DAV:lockinfo");
    const scopeEl = child(body, DAV_NS, "lockscope");
    const scope = scopeEl && child(scopeEl, DAV_NS, "exclusive")
      ? "exclusive"
      : scopeEl && child(scopeEl, DAV_NS, "shared")
      ? "shared"
      : undefined;
    const typeEl = child(body, DAV_NS, "locktype");
    if (!scope || !typeEl || !child(typeEl, DAV_NS, "write")) {
      throw new HttpError(
        400,
        "LOCK needs DAV:lockscope (exclusive or shared) and DAV:locktype write",
      );
    }
    const ownerEl = child(body, DAV_NS, "owner");
    const depthH = (req.headers.get("depth") ?? "infinity").toLowerCase();
    if (depthH !== "0" && depthH !== "infinity") {
      throw new HttpError(400, `LOCK with Depth: ${depthH} is not allowed`);
    }
    let r = await this.tree.stat(segs);
    let created = false;
    if (!r) {
      this.requireInShare(segs, "LOCK");
      await this.requireParent(segs);
      await this.checkWrite(req, url, segs, [{ segs, member: true }]);
    } else {
      const st = await this.ifState(req, segs, url);
      if (!st.ok) throw new HttpError(412, "the If header's conditions are not met");
    }
    let lock: Lock;
    try {
      lock = this.locks.create(
        key,
        scope,
        r?.isDir ? depthH as Lock["depth"] : "0",
        ownerEl ? serializeOwner(ownerEl) : "",
        timeout,
      );
    } catch (e) {
      if (e instanceof LockConflictError) {
        throw davError(
          423,
          "no-conflicting-lock",
          hrefOf(e.root.split("/").filter(Boolean), false),
        );
      }
      throw e;
    }
    if (!r) {
      // Locking an unmapped URL creates an empty resource (RFC 4918 §7.3).
      this.tree.addEmptyFile(segs);
      this.tree.invalidate(segs);
      created = true;
      r = { segs, isDir: false, size: 0, modTime: new Date() };
    }
    return xmlResponse(
      created ? 201 : 200,
      `<D:prop xmlns:D="DAV:"><D:lockdiscovery>${activeLock(lock)}</D:lockdiscovery></D:prop>`,
      { "lock-token": `<${lock.token}>` },
    );
  }

  async unlock(req: Request, segs: string[]): Promise<Response> {
    const h = req.headers.get("lock-token");
    const m = h && /^\s*<([^>]+)>\s*$/.exec(h);
    if (!m) throw new HttpError(400, "UNLOCK needs a Lock-Token header: <opaquelocktoken:...>");
    await req.body?.cancel();
    const lock = this.locks.get(m[1]);
    if (!lock || !within(segsKey(segs), lock.root)) {
      throw davError(409, "lock-token-matches-request-uri");
    }
    this.locks.remove(lock.token);
    return new Response(null, { status: 204 });
  }
}

function decodeSafe(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

/** The owner element as sent, with DAV: children kept in the DAV: namespace. */
function serializeOwner(el: XmlElement): string {
  return el.children.map((c) => typeof c === "string" ? escapeXml(c) : serialize(c)).join("");
}

/** Parses `Timeout: Second-N, Infinite` (RFC 4918 §10.7), capped at {@link MAX_LOCK_SECONDS}. */
function lockTimeout(h: string | null): number {
  if (!h) return DEFAULT_LOCK_SECONDS;
  for (const part of h.split(",").map((s) => s.trim())) {
    if (/^infinite$/i.test(part)) return MAX_LOCK_SECONDS;
    const m = /^second-(\d+)$/i.exec(part);
    if (m) return Math.max(1, Math.min(Number(m[1]), MAX_LOCK_SECONDS));
  }
  return DEFAULT_LOCK_SECONDS;
}

function activeLock(l: Lock): string {
  const root = hrefOf(l.root.split("/").filter(Boolean), false);
  return `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${l.scope}/></D:lockscope>` +
    `<D:depth>${l.depth === "0" ? "0" : "infinity"}</D:depth>` +
    (l.owner ? `<D:owner>${l.owner}</D:owner>` : "") +
    `<D:timeout>Second-${Math.max(0, Math.round((l.expires - Date.now()) / 1000))}</D:timeout>` +
    `<D:locktoken><D:href>${escapeXml(l.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${escapeXml(root)}</D:href></D:lockroot></D:activelock>`;
}
