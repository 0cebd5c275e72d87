/**
 * An in-process hub for other modules' tests: a free port, a temporary folder, a known
 * owner token.
 * @module
 */
import { startHub } from "./mod.ts";

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
  const dir = await Deno.makeTempDir({ prefix: "telahubd-test-" });
  const hub = await startHub({
    configPath: `${dir}/telahubd.yaml`,
    env: (n) => ({ TELAHUBD_PORT: "0", TELAHUBD_UDP_PORT: "0", TELA_OWNER_TOKEN: owner })[n],
    print: () => {},
    cwd: dir,
  });
  try {
    await fn({ url: `ws://127.0.0.1:${hub.port}`, http: `http://127.0.0.1:${hub.port}`, dir });
  } finally {
    await hub.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}
