/**
 * `tela pair -hub <hub> -code <code>` (book, *Credentials and pairing*; spec
 * agent-and-client.md §9.8): exchanges a one-time pairing code for a token and stores it.
 * @module
 */
import { command, UsageError } from "../../cli/mod.ts";
import {
  normalizePairingCode,
  pairingCodeProblem,
  PairingError,
  pairingFailure,
  redeemPairingCode,
  storeCredential,
  userCredentialsPath,
} from "../../host/mod.ts";
import { HubDialError } from "../../session/hub_error.ts";
import { resolveLoginHub } from "../hubs.ts";
import { env, HUB_FLAG } from "./shared.ts";

/**
 * `tela pair` (book, *Credentials and pairing*): `POST /api/pair` with the code, then the
 * token and identity go to the user credential store under the hub's `ws(s)://` URL, so
 * later commands need no `-token`. Prints no data: the identity and the next command go to
 * stderr. Errors: usage (exit 2) for a missing hub or a malformed code, before any request;
 * `PairingError` / `HubDialError` (exit 1); `ConfigError` (exit 3) for a malformed store.
 */
export const pairCommand = command({
  name: "pair",
  summary: "Exchange a pairing code for a hub token and store it.",
  usage: ["tela pair -hub <hub-url> -code <code>"],
  description: `Sends the one-time code from "tela admin pair-code" to the hub and stores the
token it returns, with its identity, in ~/.tela/credentials.yaml (mode 0600); later
commands to that hub need no -token. The code works once and expires.`,
  flags: {
    hub: HUB_FLAG,
    code: { type: "string", arg: "code", usage: "Pairing code, e.g. ABCD-1234" },
  },
  examples: ["tela pair -hub wss://owlsnest.parkscomputing.com -code ABCD-1234"],
  seeAlso: ["tela admin pair-code", "tela login", "tela connect"],
  async run({ values, err }) {
    const hubArg = values.hub ?? env("TELA_HUB");
    if (!hubArg) throw new UsageError("-hub is required (or set TELA_HUB)");
    const problem = pairingCodeProblem(values.code, "tela pair -hub <hub> -code ABCD-1234");
    if (problem) throw new UsageError(problem);
    const code = normalizePairingCode(values.code!)!;
    const hub = await resolveLoginHub(hubArg);
    let result;
    try {
      result = await redeemPairingCode(hub, code, "connect");
    } catch (e) {
      if (e instanceof PairingError) {
        throw new PairingError(e.status, e.hubError, pairingFailure(e, hub, code, false));
      }
      throw new HubDialError(hub, e);
    }
    await storeCredential(hub, {
      token: result.token,
      ...(result.identity ? { identity: result.identity } : {}),
    });
    err(
      `Identity: ${
        result.identity || "(none given by the hub)"
      } (token stored in ${userCredentialsPath()})`,
    );
    err(
      `Next: "tela machines -hub ${hub}" lists the machines you may reach; ` +
        `"tela connect -hub ${hub} -machine <name>" connects`,
    );
  },
});
