/**
 * Static files of the hub's web console, with the viewer token injected into the page.
 *
 * Book, *Hub web console*: the console is served at the hub's HTTP address, needs no
 * installation, and "the hub injects a viewer token into the console page at load time".
 * Spec hub-http-api.md 4.5 gives the wire behaviour reproduced here: `/` and `/index.html`
 * map to `index.html`, the first `</head>` gets
 * `<script>window.TELA_HUB_VERSION="…";window.TELA_CONSOLE_TOKEN="…";</script>`, and the root
 * page sets the `tela_viewer` cookie. A console written for the Go hub therefore also runs
 * from `wwwDir`.
 *
 * Files come from `web/console/` next to this module (so `deno compile --include web` embeds
 * them) or, when the hub config sets `wwwDir`, from that folder on disk.
 *
 * @module
 */
import { join, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Options of {@link consoleHandler}. */
export interface ConsoleOptions {
  /** Token of the hub's console-viewer identity; absent in open mode or when none exists. */
  viewerToken?: string;
  /** Hub name shown in the console title (config `name` / `TELAHUBD_NAME`), may be `""`. */
  hubName: string;
  /** Folder to serve instead of the built-in console (config `wwwDir`). Ignored if not a folder. */
  wwwDir?: string;
  /** Hub release version injected as `window.TELA_HUB_VERSION`, default `"dev"`. */
  hubVersion?: string;
}

/** Answers a console request, or returns `null` when the path is not a console file. */
export type ConsoleHandler = (req: Request) => Response | Promise<Response> | null;

/** Where the built-in console lives, relative to this module (book: embedded in telahubd). */
export const BUILTIN_CONSOLE_DIR: URL = new URL("../../web/console/", import.meta.url);

/** Characters a cookie value may hold unquoted (RFC 6265 4.1.1 cookie-octet). */
const COOKIE_SAFE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$/;

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  map: "application/json",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  ico: "image/vnd.microsoft.icon",
  txt: "text/plain; charset=utf-8",
  woff: "font/woff",
  woff2: "font/woff2",
  webmanifest: "application/manifest+json",
};

/**
 * Builds the console's request handler.
 *
 * The returned function answers `GET` and `HEAD` for `/`, `/index.html` and any other path
 * naming a file in the console folder (a folder path serves its `index.html`). It returns
 * `null` for other methods, for paths that name no console file, and for paths that try to
 * leave the folder (`..` or `.` segments, encoded or not, backslashes, NUL, dot-files,
 * symlinks pointing outside), so the hub answers those with its own 404.
 *
 * Responses: `index.html` files get the injected script and `Cache-Control: no-store` (the
 * root page carries a token and sets the `tela_viewer` cookie: `HttpOnly; SameSite=Lax`).
 * Other files get their content type, a strong `ETag`, `Cache-Control: no-cache` (browsers
 * revalidate, unchanged files cost a `304`), and honour `If-None-Match`.
 *
 * @param opts viewer token, hub name, optional `wwwDir` and version.
 * @example
 * ```ts
 * const serveConsole = consoleHandler({ hubName: "owlsnest", viewerToken: "e5f6…" });
 * Deno.serve((req) => serveConsole(req) ?? new Response("404 page not found\n", { status: 404 }));
 * ```
 */
export function consoleHandler(opts: ConsoleOptions): ConsoleHandler {
  // Run from a remote URL (deno run https://…) there are no local files: serve wwwDir only.
  const builtin = BUILTIN_CONSOLE_DIR.protocol === "file:"
    ? fileURLToPath(BUILTIN_CONSOLE_DIR)
    : "";
  const root = chooseRoot(opts.wwwDir, builtin);
  return (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") return null;
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") return null;
    const segments = safeSegments(new URL(req.url).pathname);
    if (segments === null) return null;
    const path = resolveFile(root, segments);
    if (path === null) return null;
    return serveFile(req, path, segments, opts);
  };
}

/** Picks `wwwDir` when it names an existing folder (spec 10.1), else the built-in console. */
function chooseRoot(wwwDir: string | undefined, builtin: string): string {
  if (wwwDir) {
    try {
      if (Deno.statSync(wwwDir).isDirectory) return Deno.realPathSync(wwwDir);
    } catch {
      // Not a folder: the Go hub falls back to the embedded console too.
    }
  }
  if (!builtin) return "";
  try {
    return Deno.realPathSync(builtin);
  } catch {
    return builtin.replace(/[\\/]$/, "");
  }
}

/**
 * Maps checked segments to a regular file inside `root` (a folder maps to its `index.html`),
 * or `null`. Synchronous so the handler can return `null` without a promise; console
 * requests are rare and a stat costs microseconds. Symlinks leading out of `root` give `null`.
 */
function resolveFile(root: string, segments: string[]): string | null {
  if (!root) return null;
  let path = join(root, ...segments);
  try {
    let info = Deno.statSync(path);
    if (info.isDirectory) {
      path = join(path, "index.html");
      info = Deno.statSync(path);
    }
    if (!info.isFile) return null;
    const real = Deno.realPathSync(path);
    return real.startsWith(root.endsWith(sep) ? root : root + sep) ? path : null;
  } catch {
    return null;
  }
}

/**
 * Splits a URL path into file-name segments, or returns `null` when any segment could name
 * something outside the console folder. `[]` means the root page.
 */
export function safeSegments(pathname: string): string[] | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null; // malformed percent-encoding
  }
  if (!decoded.startsWith("/")) return null;
  const parts = decoded.slice(1).split("/");
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop(); // trailing slash
  for (const part of parts) {
    if (part === "" || part.startsWith(".")) return null; // "//", ".", "..", dot-files
    if (/[\\\0:]/.test(part)) return null; // Windows separators, NUL, drive letters / streams
  }
  return parts;
}

async function serveFile(
  req: Request,
  path: string,
  segments: string[],
  opts: ConsoleOptions,
): Promise<Response> {
  const body = await Deno.readFile(path);
  const name = path.slice(path.lastIndexOf(sep) + 1);
  const head = req.method === "HEAD";

  if (name === "index.html") {
    const isRootPage = segments.length === 0 ||
      (segments.length === 1 && segments[0] === "index.html");
    const html = injectHubValues(new TextDecoder().decode(body), {
      hubVersion: opts.hubVersion ?? "dev",
      hubName: opts.hubName,
      viewerToken: isRootPage ? opts.viewerToken : undefined,
    });
    const headers = new Headers({
      "content-type": CONTENT_TYPES.html,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "content-security-policy": "frame-ancestors 'none'",
    });
    if (isRootPage && opts.viewerToken && COOKIE_SAFE.test(opts.viewerToken)) {
      headers.set("set-cookie", `tela_viewer=${opts.viewerToken}; Path=/; HttpOnly; SameSite=Lax`);
    }
    return new Response(head ? null : html, { status: 200, headers });
  }

  const ext = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "";
  const etag = await strongEtag(body);
  const headers = new Headers({
    "content-type": CONTENT_TYPES[ext] ?? "application/octet-stream",
    "cache-control": "no-cache",
    "etag": etag,
    "x-content-type-options": "nosniff",
  });
  if (etagMatches(req.headers.get("if-none-match"), etag)) {
    return new Response(null, { status: 304, headers });
  }
  headers.set("content-length", String(body.byteLength));
  return new Response(head ? null : body, { status: 200, headers });
}

async function strongEtag(body: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", body as Uint8Array<ArrayBuffer>),
  );
  const hex = Array.from(digest.subarray(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
  return `"${hex}"`;
}

function etagMatches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((t) => {
    const tag = t.trim();
    return tag === "*" || tag === etag || tag === `W/${etag}`;
  });
}

/**
 * Writes a value as a JavaScript string literal that is safe inside an HTML `<script>`:
 * `<`, `>`, `&` and the line separators U+2028/U+2029 become `\u` escapes, so no value can
 * close the script element or open a comment.
 */
export function scriptStringLiteral(value: string): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Inserts `<script>window.TELA_HUB_VERSION=…;window.TELA_HUB_NAME=…;window.TELA_CONSOLE_TOKEN=…;</script>`
 * before the first `</head>` (spec 4.5; `TELA_HUB_NAME` is our addition). The token is left
 * out when `viewerToken` is undefined. Pages without `</head>` are returned unchanged.
 */
export function injectHubValues(
  html: string,
  values: { hubVersion: string; hubName: string; viewerToken?: string },
): string {
  const at = html.indexOf("</head>");
  if (at < 0) return html;
  let script = `<script>window.TELA_HUB_VERSION=${scriptStringLiteral(values.hubVersion)};` +
    `window.TELA_HUB_NAME=${scriptStringLiteral(values.hubName)};`;
  if (values.viewerToken !== undefined) {
    script += `window.TELA_CONSOLE_TOKEN=${scriptStringLiteral(values.viewerToken)};`;
  }
  script += "</script>\n";
  return html.slice(0, at) + script + html.slice(at);
}
