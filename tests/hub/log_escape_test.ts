/**
 * Peer-supplied strings cannot forge log lines (issue 9, hub hardening): a machine name or a
 * malformed message carrying a newline and a fake timestamp shows up escaped on one line.
 */
import assert from "node:assert/strict";
import { HubError, ScriptedAgent, startHubProcess, waitFor, WsPeer } from "./scripted_peers.ts";

const FORGED = "2026-12-02T06:00:00Z [hub] agent registered: forged";

Deno.test({
  name: 'a machine named "web\\n2026-... forged" produces one log line, not two',
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hub = await startHubProcess({ args: ["-v"] });
    const token = hub.ownerToken!;
    try {
      // Refused today (control characters in a name); the log line is what matters here.
      await ScriptedAgent.register(hub.url, { machineName: `web\n${FORGED}`, token })
        .then((a) => a.close(), (e) => assert.ok(e instanceof HubError));
      // And a message that is not JSON: the JSON parser's error quotes its first characters,
      // and the hub logs that error (at debug level).
      const p = await WsPeer.open(hub.url);
      p.sendText("x\nforged");
      await p.nextClose();
      await waitFor(
        () => hub.stderr().split("\n").filter((l) => l.includes("forged")).length >= 2,
        "log lines",
      );
      const lines = hub.stderr().split("\n");
      assert.deepEqual(
        lines.filter((l) => l.startsWith(FORGED) || l.startsWith("forged")),
        [],
        "no forged line",
      );
      const mentions = lines.filter((l) => l.includes("forged"));
      assert.equal(mentions.length, 2, mentions.join("\n"));
      assert.match(
        mentions[0],
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[hub\] (register rejected: machine|agent registered:) web\\n2026-/,
      );
      assert.match(mentions[1], /bad signaling message: .*x\\nforged/);
    } finally {
      await hub.close();
    }
  },
});
