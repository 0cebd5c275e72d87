/**
 * An in-process hub for other modules' tests: a free port, a temporary folder, a known
 * owner token.
 * @module
 */
import { startHubInProcess } from "../../tests/hub/scripted_peers.ts";

/** Where a test hub listens. */
export interface TestHub {
  /** `ws://127.0.0.1:<port>` */
  url: string;
  /** `http://127.0.0.1:<port>` */
  http: string;
  /** Its config folder, removed afterwards. */
  dir: string;
}

/** Runs `fn` against a hub whose owner token is `owner`; shuts it down and cleans up after. */
export async function withTestHub(
  owner: string,
  fn: (hub: TestHub) => Promise<void>,
): Promise<void> {
  const hub = await startHubInProcess({ env: { TELA_OWNER_TOKEN: owner } });
  try {
    await fn({ url: hub.url, http: hub.http, dir: hub.dir });
  } finally {
    await hub.close();
  }
}
