import assert from "node:assert/strict";
import { tunnelAddresses } from "./mod.ts";

Deno.test("tunnel addresses: agent 10.77.N.1, client 10.77.N.2, N clamped to 1..254", () => {
  assert.deepEqual(tunnelAddresses(3), { agent: "10.77.3.1", client: "10.77.3.2" });
  assert.deepEqual(tunnelAddresses(0), { agent: "10.77.1.1", client: "10.77.1.2" });
  assert.deepEqual(tunnelAddresses(999), { agent: "10.77.254.1", client: "10.77.254.2" });
});
