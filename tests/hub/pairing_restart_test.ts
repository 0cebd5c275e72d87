/**
 * Pairing codes survive a hub restart (fix round item 8): a code handed out for days must
 * still redeem after `tela admin hub restart` or a reboot; Go keeps codes in memory only
 * (spec §6.1). They live in `telahubd.pairing.json` beside the config (0600).
 */
import assert from "node:assert/strict";
import { call } from "./_admin_http.ts";
import { startHubProcess } from "./scripted_peers.ts";

const OWNER = "1".repeat(64);

Deno.test({
  name: "a pairing code generated before a hub restart redeems after it, once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "telahubd-pair-restart-" });
    try {
      const configYaml = `auth:
  tokens:
    - {id: owner, token: "${OWNER}", hubRole: owner}
    - {id: console-viewer, token: "${"d".repeat(64)}", hubRole: viewer}
`;
      const first = await startHubProcess({ dir, configYaml });
      let code: string;
      try {
        const r = await call(first.httpUrl, "POST", "/api/admin/pair-code", {
          token: OWNER,
          body: { type: "connect", machines: ["barn"], expiresIn: "7d" },
        });
        assert.equal(r.status, 200, r.text);
        code = r.body.code;
      } finally {
        await first.stop();
      }
      assert.ok(!first.stderr().includes(code), "the code is never logged");
      const file = `${dir}/telahubd.pairing.json`;
      if (Deno.build.os !== "windows") assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);

      const second = await startHubProcess({ dir });
      try {
        const r = await call(second.httpUrl, "POST", "/api/pair", { body: { code } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.type, "connect");
        assert.match(r.body.token, /^[0-9a-f]{64}$/);
        const again = await call(second.httpUrl, "POST", "/api/pair", { body: { code } });
        assert.equal(again.status, 401, "single use");
        assert.ok(!(await Deno.readTextFile(file)).includes(code), "gone from the file");
        assert.ok(!second.stderr().includes(code), "the code is never logged");
      } finally {
        await second.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
