// Tela hub web console (book, "Hub web console"; look: Appendix E, Tela Design Language).
//
// Reads GET api/status and GET api/history (spec hub-http-api.md 4.1, 4.2) with the viewer
// token the hub injected as window.TELA_CONSOLE_TOKEN, or a token given as ?token=<token>
// (book: "append ?token=<admin-token> to the console URL"). Renders the Machines table and
// Recent Activity, refreshes on demand and every 10 s, and owns the light/dark/system theme
// toggle (localStorage key "theme"; theme.js applies it before first paint).
//
// Pairing (book, "Pairing (admin only)"; spec 4.5): an owner or admin signs in with their
// token ("Sign in as administrator"; kept in sessionStorage only, sent only as
// Authorization: Bearer to api/admin/*, never in a cookie or the URL). The console probes
// GET api/admin/tokens with it (or with a ?token= from the address) and shows the Pairing
// section only on 200, never with the viewer token. Generate sends POST api/admin/pair-code.
//
// Agent management (book, *Hub administration*, "Agent"; spec hub-http-api.md §8): the
// Machines table shows each agent's version; a signed-in token that may manage a machine
// (owner or admin: every machine; a user: GET api/admin/agents/<m> answers manage:true) gets
// Restart and Update buttons on that machine's row, each confirmed in a dialog, sent as POST
// api/admin/agents/<m>/restart|update with that token. Nobody else sees them.
//
// The pure helpers are exported so Deno unit tests can import this file; the page wiring
// only runs when there is a document.

/** How often auto-refresh reloads, in milliseconds. */
export const REFRESH_INTERVAL_MS = 10_000;
/** A connected agent whose lastSeen is older than this is "stale" (spec 4.5), in ms. */
export const STALE_AFTER_MS = 60_000;
/** Give up on one API request after this long, in milliseconds. */
export const FETCH_TIMEOUT_MS = 8_000;
/** localStorage key of the theme choice (Appendix E, "Theme selection"). */
export const THEME_KEY = "theme";
/** sessionStorage key of the administrator token (this tab only; never a cookie or URL). */
export const ADMIN_TOKEN_KEY = "tela-admin-token";
/** Give up on an agent action after this long, ms (the hub waits 30 s for the agent). */
export const AGENT_ACTION_TIMEOUT_MS = 35_000;
/** How long a Restart/Update result stays under the row's buttons, ms. */
export const AGENT_NOTE_MS = 60_000;
/** The Expiration choices of the Pairing card, in seconds (book: 10 min, 1 h, 24 h, 7 days). */
export const PAIR_EXPIRIES = [600, 3600, 86400, 604800];

const EVENT_LABELS = {
  "agent-register": "Agent registered",
  "agent-disconnect": "Agent disconnected",
  "agent-session-disconnect": "Agent session closed",
  "client-connect": "Session opened",
  "client-disconnect": "Session closed",
  "client-connect-bridge": "Bridged session opened",
  "client-disconnect-bridge": "Bridged session closed",
  "helper-disconnect": "Helper disconnected",
};

/**
 * Status of a machine object from /api/status: "offline" when its agent is not connected,
 * "stale" when connected but lastSeen is more than 60 s before `nowMs`, else "online".
 * @param {{agentConnected?: boolean, lastSeen?: string | null}} machine
 * @param {number} nowMs the hub's clock (status `timestamp`) in ms since the epoch.
 * @returns {"online" | "stale" | "offline"}
 */
export function machineState(machine, nowMs) {
  if (!machine.agentConnected) return "offline";
  const seen = Date.parse(machine.lastSeen ?? "");
  if (Number.isFinite(seen) && nowMs - seen > STALE_AFTER_MS) return "stale";
  return "online";
}

/**
 * Machines in a stable order (Appendix E, "Deterministic list order"): by name, then agent.
 * @template {{id: string, agentId?: string}} M
 * @param {M[]} machines
 * @returns {M[]}
 */
export function sortMachines(machines) {
  return [...machines].sort((a, b) =>
    a.id.localeCompare(b.id, "en") || (a.agentId ?? "").localeCompare(b.agentId ?? "", "en")
  );
}

/** Human label of a history event type; unknown types are shown verbatim (spec 7). */
export function eventLabel(type) {
  return EVENT_LABELS[type] ?? String(type ?? "");
}

/** History detail as the console shows it: a leading "services=" is dropped (spec 4.5). */
export function eventDetail(detail) {
  return String(detail ?? "").replace(/^services=/, "");
}

/**
 * Formats an RFC 3339 time as local "YYYY-MM-DD HH:MM:SS" (TDL: data is UTC, display is
 * local). Returns "" for an unparsable value.
 */
export function formatLocal(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Uptime in seconds as "3d 4h", "2h 5m", "7m" or "42s". */
export function formatUptime(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

/** The hub's WebSocket URL for a page location: ws:// for http, wss:// for https. */
export function hubWebSocketUrl(loc) {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}`;
}

/** A failed API call: `status` 0 means the hub did not answer at all. */
export class HubRequestError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.name = "HubRequestError";
    this.status = status;
  }
}

/**
 * One-line description of a failed request, for the toolbar.
 * @param {HubRequestError} err
 */
export function describeFailure(err) {
  if (err.status === 0) return `Hub unreachable (${err.message})`;
  if (err.status === 401) return "The hub refused the console's token (HTTP 401)";
  return `Hub answered HTTP ${err.status}${err.message ? `: ${err.message}` : ""}`;
}

/**
 * The body of POST api/admin/pair-code as the console sends it (spec 4.5, 5.5): integer
 * seconds; `machineId` for a register code, `machines` for a connect code.
 * @param {{type: "connect" | "register", expiresIn: number, machineId?: string,
 *   machines?: string[]}} form
 * @returns {{type: string, expiresIn: number, machineId?: string, machines?: string[]}}
 */
export function pairCodeRequest(form) {
  const body = { type: form.type, expiresIn: Math.trunc(form.expiresIn) };
  if (form.type === "register") return { ...body, machineId: String(form.machineId ?? "").trim() };
  const machines = (form.machines ?? []).filter((m) => typeof m === "string" && m !== "");
  return { ...body, machines: machines.length ? machines : ["*"] };
}

/**
 * The command that redeems a code (book, "Credentials and pairing"; spec 6.2):
 * `tela pair -hub <hub> -code <code>` for a connect code, `telad pair -hub <hub> -code <code>
 * -machine <machine>` for a register code (telad needs -machine for those).
 * @param {string} type "connect" or "register".
 * @param {string} hubUrl the hub's ws:// or wss:// URL.
 * @param {string} code the pairing code.
 * @param {string} [machineId] the machine of a register code.
 */
export function pairCommand(type, hubUrl, code, machineId) {
  return type === "register"
    ? `telad pair -hub ${hubUrl} -code ${code} -machine ${machineId ?? ""}`
    : `tela pair -hub ${hubUrl} -code ${code}`;
}

/**
 * An RFC 3339 time (the hub answers in its own zone, spec 5.5) as ISO 8601 UTC to the
 * second, e.g. "2026-04-21T07:10:00Z"; the input unchanged when it cannot be parsed.
 * @param {string} iso
 */
export function toUtcSeconds(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso ?? "");
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * One line for a failed admin request, shown in the card.
 * @param {HubRequestError} err
 */
export function describeAdminFailure(err) {
  if (err.status === 0) return `Hub unreachable (${err.message})`;
  if (err.status === 401 || err.status === 403) {
    return `The hub did not accept the administrator token (HTTP ${err.status}${
      err.message ? `: ${err.message}` : ""
    }). Sign in again with an owner or admin token.`;
  }
  return `Hub answered HTTP ${err.status}${err.message ? `: ${err.message}` : ""}`;
}

/**
 * What a Restart or Update answer means for the row's note (spec §8.2: the agent's
 * `mgmt-response` comes back verbatim with 200; `ok:false` carries the agent's reason).
 * @param {"restart" | "update"} action
 * @param {{ok?: boolean, message?: string}} envelope the hub's 200 body.
 * @returns {{ok: boolean, text: string}}
 */
export function agentActionResult(action, envelope) {
  const message = typeof envelope?.message === "string" ? envelope.message : "";
  if (envelope?.ok !== true) {
    return { ok: false, text: `The agent refused ${action}: ${message || "no reason given"}` };
  }
  if (action === "restart") {
    return { ok: true, text: "Restarting; it registers again in a few seconds." };
  }
  return {
    ok: true,
    text: message ? `${message[0].toUpperCase()}${message.slice(1)}.` : "Update started.",
  };
}

// ---------------------------------------------------------------------------------------
// Page wiring (browser only)

if (typeof document !== "undefined") start();

function start() {
  const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const injectedToken = typeof globalThis.TELA_CONSOLE_TOKEN === "string"
    ? globalThis.TELA_CONSOLE_TOKEN
    : "";
  const urlToken = new URLSearchParams(location.search).get("token") ?? "";
  const token = urlToken || injectedToken;
  const injectedName = typeof globalThis.TELA_HUB_NAME === "string" ? globalThis.TELA_HUB_NAME : "";

  /** @type {any} */
  let lastStatus = null;
  let lastHistory = null;
  let timer = 0;
  let inFlight = null;

  // ---- Theme (Appendix E, "Theme selection") ----
  const themeButton = $("theme-button");
  const themeMenu = $("theme-menu");
  const darkQuery = matchMedia("(prefers-color-scheme: dark)");
  const icons = /** @type {HTMLTemplateElement} */ ($("svg-icons")).content;
  const iconMarkup = (name) => icons.querySelector(`svg[data-icon="${name}"]`)?.innerHTML ?? "";

  const readChoice = () => {
    let v = null;
    try {
      v = localStorage.getItem(THEME_KEY);
    } catch { /* storage disabled */ }
    return v === "light" || v === "dark" || v === "system" ? v : "system";
  };
  const applyTheme = (choice) => {
    const dark = choice === "dark" || (choice === "system" && darkQuery.matches);
    document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
    const topbar = $("topbar");
    topbar.classList.toggle("tb-dark", dark);
    topbar.classList.toggle("tb-light", !dark);
    $("theme-button-icon").innerHTML = iconMarkup(choice);
    themeButton.title = `Theme: ${choice[0].toUpperCase()}${choice.slice(1)}`;
    for (const item of themeMenu.querySelectorAll("[data-theme-choice]")) {
      const on = item.getAttribute("data-theme-choice") === choice;
      item.classList.toggle("active", on);
      item.setAttribute("aria-checked", String(on));
    }
  };
  for (const span of themeMenu.querySelectorAll(".menu-item-icon")) {
    span.innerHTML = `<svg width="14" height="14" viewBox="0 0 24 24" fill="none" ` +
      `stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">` +
      `${iconMarkup(span.getAttribute("data-icon"))}</svg>`;
  }
  const openMenu = (open) => {
    themeMenu.hidden = !open;
    themeButton.setAttribute("aria-expanded", String(open));
    if (open) {
      /** @type {HTMLElement | null} */ (themeMenu.querySelector(".menu-item.active") ??
        themeMenu.querySelector(".menu-item"))?.focus();
    }
  };
  themeButton.addEventListener("click", () => openMenu(themeMenu.hidden));
  themeMenu.addEventListener("click", (ev) => {
    const item = /** @type {HTMLElement} */ (ev.target).closest("[data-theme-choice]");
    if (!item) return;
    const choice = item.getAttribute("data-theme-choice");
    try {
      localStorage.setItem(THEME_KEY, choice);
    } catch { /* storage disabled: the choice lasts for this page only */ }
    applyTheme(choice);
    openMenu(false);
    themeButton.focus();
  });
  themeMenu.addEventListener("keydown", (ev) => {
    const items = [...themeMenu.querySelectorAll(".menu-item")];
    const at = items.indexOf(/** @type {Element} */ (document.activeElement));
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const next = (at + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      /** @type {HTMLElement} */ (items[next]).focus();
    }
  });
  document.addEventListener("click", (ev) => {
    if (!themeMenu.hidden && !themeMenu.parentElement?.contains(/** @type {Node} */ (ev.target))) {
      openMenu(false);
    }
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !themeMenu.hidden) {
      openMenu(false);
      themeButton.focus();
    }
  });
  darkQuery.addEventListener("change", () => {
    if (readChoice() === "system") applyTheme("system");
  });
  addEventListener("storage", (ev) => {
    if (ev.key === THEME_KEY) applyTheme(readChoice());
  });
  applyTheme(readChoice());

  // ---- Data ----
  $("brand-link").setAttribute("href", location.pathname + location.search);
  setTitle(injectedName);

  /**
   * A JSON request to the hub; `opts.token` replaces the page's token, `opts.body` makes it
   * a POST with that JSON.
   * @throws {HubRequestError}
   */
  async function getJson(path, opts = {}) {
    const ctrl = new AbortController();
    const waitMs = opts.timeoutMs ?? FETCH_TIMEOUT_MS;
    const timeout = setTimeout(() => ctrl.abort(), waitMs);
    const bearer = opts.token ?? token;
    /** @type {Record<string, string>} */
    const headers = bearer ? { Authorization: `Bearer ${bearer}` } : {};
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    /** @type {Response} */
    let res;
    try {
      res = await fetch(path, {
        method: opts.body !== undefined ? "POST" : "GET",
        headers,
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
        cache: "no-store",
        // Admin calls carry their token in the header only, never the viewer cookie.
        credentials: opts.token !== undefined ? "omit" : "same-origin",
        signal: ctrl.signal,
      });
    } catch (e) {
      const timedOut = /** @type {Error} */ (e).name === "AbortError";
      throw new HubRequestError(
        0,
        timedOut ? `no answer within ${Math.round(waitMs / 1000)} s` : "network error",
      );
    } finally {
      clearTimeout(timeout);
    }
    let body = null;
    try {
      body = await res.json();
    } catch { /* non-JSON body (proxy error page, 404 text) */ }
    if (!res.ok) throw new HubRequestError(res.status, body?.error ?? res.statusText);
    if (body === null || typeof body !== "object") {
      throw new HubRequestError(res.status, "the answer is not JSON");
    }
    return body;
  }

  function refresh() {
    if (inFlight) return inFlight;
    clearTimeout(timer);
    const button = $("refresh-button");
    button.setAttribute("aria-busy", "true");
    inFlight = Promise.allSettled([getJson("api/status"), getJson("api/history")])
      .then(([status, history]) => {
        const statusError = status.status === "rejected" ? status.reason : null;
        const historyError = history.status === "rejected" ? history.reason : null;
        if (!statusError) {
          lastStatus = status.value;
          renderStatus(lastStatus);
          if (manager.token && !manager.all) {
            // A user's manage grants can change: ask again, then redraw the buttons.
            const ids = (Array.isArray(lastStatus.machines) ? lastStatus.machines : [])
              .map((m) => String(m.id));
            manageableOf(manager.token, ids).then((set) => {
              if (!manager.token || manager.all) return;
              manager.machines = set;
              if (lastStatus) renderStatus(lastStatus);
            });
          }
        } else {
          renderStatusError(statusError);
        }
        if (!historyError) {
          lastHistory = history.value;
          renderHistory(lastHistory);
        } else {
          renderHistoryError(historyError);
        }
        if (!statusError && !historyError) {
          const now = new Date();
          const stamp = $("last-updated");
          stamp.textContent = now.toLocaleTimeString([], { hour12: false });
          stamp.setAttribute("datetime", now.toISOString());
          stamp.title = now.toISOString();
        }
        const err = statusError ?? historyError;
        const note = $("fetch-error");
        note.hidden = !err;
        note.replaceChildren();
        if (err) {
          const text = describeFailure(err) +
            (lastStatus && err.status !== 401 ? ". Showing the last data received." : ".");
          note.append(el("span", "error-text", text));
        }
        document.documentElement.dataset.consoleState = err ? "error" : "ok";
      })
      .catch((e) => {
        // A hub answer this console cannot render: say so rather than fail silently.
        console.error("console: rendering failed", e);
        const note = $("fetch-error");
        note.hidden = false;
        note.replaceChildren(el("span", "error-text", "The hub's answer could not be shown."));
        document.documentElement.dataset.consoleState = "error";
      })
      .finally(() => {
        inFlight = null;
        button.removeAttribute("aria-busy");
        schedule();
      });
    return inFlight;
  }

  function schedule() {
    clearTimeout(timer);
    const auto = /** @type {HTMLInputElement} */ ($("auto-refresh")).checked;
    if (auto && document.visibilityState !== "hidden") {
      timer = setTimeout(refresh, REFRESH_INTERVAL_MS);
    }
  }

  $("refresh-button").addEventListener("click", () => refresh());
  $("auto-refresh").addEventListener("change", () => schedule());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
    else clearTimeout(timer);
  });

  function setTitle(name) {
    const shown = name || injectedName || location.host;
    $("hub-title").textContent = shown;
    document.title = `${shown} | Tela hub console`;
  }

  function renderStatus(status) {
    setTitle(typeof status.hubName === "string" ? status.hubName : "");
    const hub = status.hub ?? {};
    const meta = $("hub-meta");
    meta.replaceChildren();
    const parts = [];
    if (hub.version) parts.push(["telahubd ", el("span", "mono", String(hub.version))]);
    if (hub.hostname) parts.push([`on ${hub.hostname}`]);
    if (hub.os) parts.push([`${hub.os}/${hub.arch ?? "?"}`]);
    if (hub.uptime !== undefined) parts.push([`up ${formatUptime(hub.uptime)}`]);
    if (status.hubId) parts.push(["hub ID ", el("span", "mono", String(status.hubId))]);
    parts.forEach((p, i) => {
      if (i > 0) meta.append("  \u00b7  ");
      meta.append(...p);
    });

    const machines = Array.isArray(status.machines) ? sortMachines(status.machines) : [];
    updatePairMachines(machines.map((m) => String(m.id)));
    const nowMs = Date.parse(status.timestamp ?? "") || Date.now();
    const count = $("machines-count");
    count.hidden = false;
    count.textContent = String(machines.length);
    const table = $("machines-table");
    const empty = $("machines-empty");
    if (machines.length === 0) {
      table.hidden = true;
      empty.hidden = false;
      empty.replaceChildren(
        el("p", "empty-title", "No machines registered yet"),
        el("p", "", "Run telad on the machine you want to reach and point it at this hub:"),
        el(
          "div",
          "code-block",
          `telad -hub ${hubWebSocketUrl(location)} -machine <name> -ports 22 -token <agent-token>`,
        ),
        el("p", "", "It appears here as soon as it registers."),
      );
      return;
    }
    empty.hidden = true;
    table.hidden = false;
    const withActions = !!manager.token &&
      (manager.all || machines.some((m) => manager.machines.has(String(m.id))));
    table.classList.toggle("with-actions", withActions);
    $("machines-body").replaceChildren(...machines.map((m) => machineRow(m, nowMs)));
  }

  function machineRow(m, nowMs) {
    const tr = el("tr");
    tr.dataset.machine = m.id;

    const nameCell = el("td");
    const title = m.displayName && m.displayName !== m.id ? m.displayName : m.id;
    nameCell.append(el("div", "machine-name", title));
    const meta = el("div", "machine-meta");
    if (title !== m.id) meta.append(el("span", "mono", m.id));
    if (m.hostname && m.hostname !== m.id) meta.append(el("span", "", m.hostname));
    if (m.os) meta.append(el("span", "", m.os));
    if (m.reachableThrough?.hubUrl) {
      meta.append(el("span", "", `via ${m.reachableThrough.hubUrl}`));
    }
    for (const tag of Array.isArray(m.tags) ? m.tags : []) meta.append(el("span", "chip", tag));
    if (meta.childElementCount > 0) nameCell.append(meta);

    const agentCell = el("td", "agent-col");
    if (m.agentVersion) agentCell.append(el("span", "mono agent-version", String(m.agentVersion)));
    else agentCell.append(el("span", "muted", "Unknown"));

    const servicesCell = el("td");
    const services = Array.isArray(m.services) ? m.services : [];
    if (services.length === 0) {
      servicesCell.append(el("span", "muted", "None"));
    } else {
      const list = el("div", "services");
      for (const s of services) {
        const name = s.name || s.label || "";
        const item = el("span", "service", name && name !== `port ${s.port}` ? name : "port");
        if (s.description) item.title = s.description;
        item.append(el("span", "service-port", String(s.port)));
        list.append(item);
      }
      servicesCell.append(list);
    }
    // File shares the agent advertises (spec agent-and-client.md §2.10), read-only or not.
    const shares = Array.isArray(m.capabilities?.shares) ? m.capabilities.shares : [];
    if (shares.length > 0) {
      const list = el("div", "services shares");
      for (const s of shares) {
        const item = el("span", "service share", `files: ${s.name}`);
        item.title = !s.writable
          ? "File share, read-only"
          : s.allowDelete
          ? "File share, read-write, delete allowed"
          : "File share, read-write";
        item.append(el("span", "service-port", s.writable ? "rw" : "ro"));
        list.append(item);
      }
      servicesCell.append(list);
    }

    const state = machineState(m, nowMs);
    const statusCell = el("td");
    const badge = el(
      "span",
      `status ${
        { online: "status-online", stale: "status-degraded", offline: "status-offline" }[state]
      }`,
    );
    badge.dataset.state = state;
    badge.append(
      el("span", "status-dot"),
      { online: "Online", stale: "Stale", offline: "Offline" }[state],
    );
    badge.title = m.lastSeen ? `Last seen ${m.lastSeen}` : "Never seen";
    statusCell.append(badge);

    const sessions = Number(m.sessionCount) || 0;
    const sessionsCell = el(
      "td",
      `num mono-col sessions-col${sessions === 0 ? " muted" : ""}`,
      String(sessions),
    );

    tr.append(nameCell, agentCell, servicesCell, statusCell, sessionsCell, actionsCell(m, state));
    return tr;
  }

  // ---- Agent management: Restart and Update (spec §8) ----
  /**
   * The signed-in token that may manage agents: `all` for an owner or admin, else the
   * machines whose presence probe answered manage:true.
   */
  const manager = { token: "", all: false, machines: /** @type {Set<string>} */ (new Set()) };
  /** Notes under a row's buttons: machine → text, kind, until (ms). */
  const agentNotes = new Map();

  /** The machines among `ids` that `candidate` may manage (GET api/admin/agents/<m>). */
  async function manageableOf(candidate, ids) {
    const answers = await Promise.all(
      ids.map((id) =>
        getJson(`api/admin/agents/${encodeURIComponent(id)}`, { token: candidate })
          .then((r) => (r.manage === true ? id : null), () => null)
      ),
    );
    return new Set(answers.filter((id) => id !== null));
  }

  function actionsCell(m, state) {
    const td = el("td", "actions-col");
    const id = String(m.id);
    if (!manager.token || !(manager.all || manager.machines.has(id))) return td;
    const box = el("div", "agent-actions");
    for (const action of /** @type {const} */ (["restart", "update"])) {
      const b = /** @type {HTMLButtonElement} */ (el(
        "button",
        "btn btn-sm",
        action === "restart" ? "Restart" : "Update",
      ));
      b.type = "button";
      b.dataset.agentAction = action;
      b.dataset.machine = id;
      if (state === "offline") {
        b.disabled = true;
        b.title = "The agent is offline";
      } else {
        b.title = action === "restart"
          ? `Restart the agent of ${id}`
          : `Update the agent of ${id} from its release channel`;
      }
      b.addEventListener("click", () => confirmAgentAction(action, m));
      box.append(b);
    }
    td.append(box);
    const note = agentNotes.get(id);
    if (note && note.until > Date.now()) {
      const n = el("div", `agent-note note-${note.kind}`, note.text);
      n.setAttribute("role", note.kind === "error" ? "alert" : "status");
      td.append(n);
    }
    return td;
  }

  const dialog = /** @type {HTMLDialogElement} */ ($("agent-dialog"));
  /** @type {null | (() => void)} */
  let onConfirm = null;
  $("agent-dialog-cancel").addEventListener("click", () => dialog.close("cancel"));
  $("agent-dialog-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const go = onConfirm;
    onConfirm = null;
    dialog.close("confirm");
    go?.();
  });
  dialog.addEventListener("close", () => {
    onConfirm = null;
  });

  /** Opens the confirmation dialog (book: it names the machine and says it restarts). */
  function confirmAgentAction(action, m) {
    const id = String(m.id);
    const name = m.displayName && m.displayName !== id ? `${m.displayName} (${id})` : id;
    $("agent-dialog-title").textContent = action === "restart"
      ? `Restart the agent of ${name}?`
      : `Update the agent of ${name}?`;
    $("agent-dialog-desc").textContent = action === "restart"
      ? "telad stops and starts again with the same configuration. Its sessions drop and " +
        "reconnect; the machine is back online within a few seconds."
      : "telad downloads the latest release of its channel, checks its SHA-256 against the " +
        "channel manifest, replaces its binary and restarts. Its sessions drop and reconnect.";
    $("agent-dialog-confirm").textContent = action === "restart" ? "Restart" : "Update";
    onConfirm = () => runAgentAction(action, id);
    dialog.showModal();
    /** @type {HTMLElement} */ ($("agent-dialog-cancel")).focus();
  }

  function setNote(id, kind, text) {
    agentNotes.set(id, { kind, text, until: Date.now() + AGENT_NOTE_MS });
    if (lastStatus) renderStatus(lastStatus);
  }

  async function runAgentAction(action, id) {
    setNote(
      id,
      "busy",
      action === "restart" ? "Asking the agent to restart." : "Asking the agent to update.",
    );
    try {
      const envelope = await getJson(
        `api/admin/agents/${encodeURIComponent(id)}/${action}`,
        { token: manager.token, body: {}, timeoutMs: AGENT_ACTION_TIMEOUT_MS },
      );
      const r = agentActionResult(action, envelope);
      setNote(id, r.ok ? "ok" : "error", r.text);
      if (r.ok) setTimeout(() => refresh(), 3_000);
    } catch (e) {
      const err = /** @type {HubRequestError} */ (e);
      const text = err.status === 503
        ? "The agent is not connected to the hub."
        : err.status === 504
        ? "The agent did not answer within 30 seconds."
        : err.status === 403
        ? `Not allowed: ${err.message || "manage permission required"}.`
        : describeFailure(err);
      setNote(id, "error", text);
    }
  }

  function renderHistory(history) {
    const events = Array.isArray(history.events) ? history.events : [];
    const count = $("activity-count");
    count.hidden = false;
    count.textContent = String(events.length);
    const scroll = $("activity-scroll");
    const empty = $("activity-empty");
    if (events.length === 0) {
      scroll.hidden = true;
      empty.hidden = false;
      empty.replaceChildren(
        el("p", "empty-title", "No activity yet"),
        el("p", "", "Agent registrations and sessions opened or closed appear here."),
      );
      return;
    }
    empty.hidden = true;
    scroll.hidden = false;
    $("activity-body").replaceChildren(...events.map((ev) => {
      const tr = el("tr");
      const time = el("td", "time-col mono-col");
      const t = el("time", "", formatLocal(ev.timestamp) || String(ev.timestamp ?? ""));
      t.setAttribute("datetime", String(ev.timestamp ?? ""));
      t.title = String(ev.timestamp ?? "");
      time.append(t);
      const type = el("td", "", eventLabel(ev.event));
      type.title = String(ev.event ?? "");
      tr.append(
        time,
        type,
        el("td", "", String(ev.machineId ?? "")),
        el("td", "detail-col", eventDetail(ev.detail)),
      );
      return tr;
    }));
  }

  function errorState(err, what) {
    const parts = [];
    if (err.status === 401) {
      parts.push(el("p", "empty-title", "Not authorized"));
      parts.push(el(
        "p",
        "",
        urlToken
          ? "The hub did not accept the token given in the address (?token=). Remove it to use the hub's viewer token."
          : token
          ? "The hub did not accept this console's token. Reload the page to get the hub's current viewer token."
          : "This hub gave the console no viewer token.",
      ));
      const p = el("p", "", "To use another token, open ");
      p.append(el("span", "mono", `${location.origin}${location.pathname}?token=<token>`));
      parts.push(p);
    } else if (err.status === 0) {
      parts.push(el("p", "empty-title", "Hub unreachable"));
      parts.push(el("p", "", `The console could not load ${what} from ${location.host}.`));
      parts.push(
        el(
          "p",
          "",
          "Check that telahubd is running. The console retries on Refresh and every 10 s.",
        ),
      );
    } else {
      parts.push(el("p", "empty-title", `Could not load ${what}`));
      parts.push(el("p", "error-text", describeFailure(err)));
    }
    return parts;
  }

  function renderStatusError(err) {
    if (lastStatus && err.status !== 401) return; // keep the last table, the toolbar says why
    lastStatus = null; // a refused token must not leave data on screen
    $("machines-table").hidden = true;
    $("machines-count").hidden = true;
    const empty = $("machines-empty");
    empty.hidden = false;
    empty.replaceChildren(...errorState(err, "machines"));
  }

  function renderHistoryError(err) {
    if (lastHistory && err.status !== 401) return;
    lastHistory = null;
    $("activity-scroll").hidden = true;
    $("activity-count").hidden = true;
    const empty = $("activity-empty");
    empty.hidden = false;
    empty.replaceChildren(...errorState(err, "activity"));
  }

  // ---- Administrator sign-in and Pairing (book, "Pairing (admin only)") ----
  const readAdminToken = () => {
    try {
      return sessionStorage.getItem(ADMIN_TOKEN_KEY) ?? "";
    } catch {
      return "";
    }
  };
  const writeAdminToken = (value) => {
    try {
      if (value) sessionStorage.setItem(ADMIN_TOKEN_KEY, value);
      else sessionStorage.removeItem(ADMIN_TOKEN_KEY);
    } catch { /* storage disabled: the sign-in lasts for this page only */ }
  };
  let adminToken = readAdminToken();
  /** The token the Pairing card uses, once GET api/admin/tokens answered 200 with it. */
  let pairingToken = "";

  const signinCard = $("signin-card");
  const signinInput = /** @type {HTMLInputElement} */ ($("signin-token"));
  const signinError = $("signin-error");
  const showSignin = (open) => {
    signinCard.hidden = !open;
    $("signin-button").setAttribute("aria-expanded", String(open));
    if (open) signinInput.focus();
    else {
      signinInput.value = "";
      signinInput.classList.remove("invalid");
      signinError.hidden = true;
    }
  };
  /**
   * The signed-in state: `tokenUsed` is an owner's or admin's token (Pairing and every
   * agent's buttons), or `managed` lists the machines a user's token may manage (their
   * buttons only); "" and no list: signed out.
   * @param {string} tokenUsed
   * @param {Set<string>} [managed]
   */
  const setAdmin = (tokenUsed, managed) => {
    const admin = tokenUsed !== "" && !managed;
    pairingToken = admin ? tokenUsed : "";
    manager.token = tokenUsed;
    manager.all = admin;
    manager.machines = managed ?? new Set();
    const signedIn = tokenUsed !== "";
    $("pairing-section").hidden = !admin;
    $("admin-note").hidden = !signedIn;
    $("admin-note").textContent = admin
      ? "Signed in as administrator"
      : `Signed in: manage ${managed?.size ?? 0} machine${managed?.size === 1 ? "" : "s"}`;
    $("signout-button").hidden = !(signedIn && adminToken);
    $("signin-button").hidden = signedIn;
    document.documentElement.dataset.admin = String(admin);
    document.documentElement.dataset.manager = String(signedIn);
    if (lastStatus) renderStatus(lastStatus);
  };

  /** The machines of the last status the hub showed (for the manage probes). */
  const knownIds = () =>
    (Array.isArray(lastStatus?.machines) ? lastStatus.machines : []).map((m) => String(m.id));

  /**
   * Probes GET api/admin/tokens with `candidate` (spec 4.5): 200 means owner or admin.
   * @returns {Promise<HubRequestError | null>} the failure, or null when admin.
   */
  async function probeAdmin(candidate) {
    try {
      await getJson("api/admin/tokens", { token: candidate });
      return null;
    } catch (e) {
      return /** @type {HubRequestError} */ (e);
    }
  }

  $("signin-button").addEventListener("click", () => showSignin(signinCard.hidden));
  $("signin-cancel").addEventListener("click", () => showSignin(false));
  signinCard.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const candidate = signinInput.value.trim();
    const fail = (text) => {
      signinInput.classList.add("invalid");
      signinError.textContent = text;
      signinError.hidden = false;
    };
    if (!candidate) return fail("Paste an owner or admin token.");
    const submit = /** @type {HTMLButtonElement} */ ($("signin-submit"));
    submit.disabled = true;
    const err = await probeAdmin(candidate);
    // Not an owner or admin, but a known token: it may still manage some machines.
    const managed = err?.status === 403 ? await manageableOf(candidate, knownIds()) : null;
    submit.disabled = false;
    if (err && !managed?.size) {
      return fail(
        err.status === 401 || err.status === 403
          ? `The hub did not accept this token as an owner or admin token (HTTP ${err.status}), ` +
            `and it may not manage any machine listed here.`
          : describeAdminFailure(err),
      );
    }
    adminToken = candidate;
    writeAdminToken(candidate);
    showSignin(false);
    setAdmin(candidate, managed ?? undefined);
  });
  $("signout-button").addEventListener("click", () => {
    adminToken = "";
    writeAdminToken("");
    hidePairResult();
    agentNotes.clear();
    setAdmin(urlToken && pairingToken === urlToken ? urlToken : "");
  });

  const pairType = /** @type {HTMLSelectElement} */ ($("pair-type"));
  const pairMachines = /** @type {HTMLSelectElement} */ ($("pair-machines"));
  const pairMachine = /** @type {HTMLInputElement} */ ($("pair-machine"));
  const pairMachineError = $("pair-machine-error");
  const pairError = $("pair-error");
  const hidePairResult = () => {
    $("pair-result").hidden = true;
  };
  const showType = () => {
    const register = pairType.value === "register";
    $("pair-machines-group").hidden = register;
    $("pair-machine-group").hidden = !register;
  };
  pairType.addEventListener("change", () => {
    showType();
    pairError.hidden = true;
  });
  pairMachine.addEventListener("input", () => {
    pairMachine.classList.remove("invalid");
    pairMachineError.hidden = true;
  });

  /** Keeps the machine choices in step with the Machines table (selection kept). */
  function updatePairMachines(ids) {
    const chosen = pairMachines.value || "*";
    const all = el("option", "", "All machines (*)");
    all.value = "*";
    pairMachines.replaceChildren(
      all,
      ...ids.map((id) => {
        const o = el("option", "", id);
        o.value = id;
        return o;
      }),
    );
    pairMachines.value = ids.includes(chosen) ? chosen : "*";
    $("pair-machine-list").replaceChildren(...ids.map((id) => {
      const o = el("option");
      o.value = id;
      return o;
    }));
  }

  $("pairing-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    pairError.hidden = true;
    const type = pairType.value === "register" ? "register" : "connect";
    const machineId = pairMachine.value.trim();
    if (type === "register" && !machineId) {
      pairMachine.classList.add("invalid");
      pairMachineError.textContent = "A register code needs the name of the new machine.";
      pairMachineError.hidden = false;
      pairMachine.focus();
      return;
    }
    const body = pairCodeRequest({
      type,
      expiresIn: Number(/** @type {HTMLSelectElement} */ ($("pair-expiry")).value),
      machineId,
      machines: [pairMachines.value || "*"],
    });
    const button = /** @type {HTMLButtonElement} */ ($("pair-generate"));
    button.disabled = true;
    try {
      const res = await getJson("api/admin/pair-code", { token: pairingToken, body });
      if (typeof res.code !== "string") throw new HubRequestError(200, "the answer has no code");
      $("pair-code").textContent = res.code;
      const expires = $("pair-expires");
      expires.textContent = toUtcSeconds(res.expiresAt);
      expires.setAttribute("datetime", String(res.expiresAt ?? ""));
      expires.title = formatLocal(res.expiresAt);
      $("pair-command").textContent = pairCommand(
        type,
        hubWebSocketUrl(location),
        res.code,
        machineId,
      );
      $("pair-result").hidden = false;
    } catch (e) {
      hidePairResult();
      pairError.replaceChildren(describeAdminFailure(/** @type {HubRequestError} */ (e)));
      pairError.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  showType();
  setAdmin("");
  // The viewer token is never an administrator's: only a signed-in token or a ?token= is
  // probed (spec 4.5: the card shows on 200 only).
  (async () => {
    for (const candidate of [adminToken, urlToken]) {
      if (!candidate) continue;
      const err = await probeAdmin(candidate);
      if (!err) return setAdmin(candidate);
      if (candidate === adminToken && err.status === 403) {
        // A manager signed in before: keep the sign-in while it still manages something.
        await (inFlight ?? Promise.resolve());
        const managed = await manageableOf(candidate, knownIds());
        if (managed.size) return setAdmin(candidate, managed);
      }
      if (candidate === adminToken && (err.status === 401 || err.status === 403)) {
        adminToken = ""; // revoked or demoted since: sign in again
        writeAdminToken("");
      }
    }
  })();

  refresh();
}
