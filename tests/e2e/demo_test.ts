/**
 * `deno task demo` as a newcomer runs it (issue item 4): no configuration, the Services
 * block, a proof fetch, a `curl` line that works, and a clean stop on Ctrl-C.
 */
import assert from "node:assert/strict";
import { IN_CI, spawnDeno } from "./harness.ts";

Deno.test({
  name: "deno task demo prints a Services block and a curl line that works; Ctrl-C stops it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "e2e-demo-" });
    const demo = spawnDeno("demo", "cmd/demo.ts", [], { HOME: home });
    try {
      await demo.waitFor(/^Press Ctrl-C to stop\.$/, 90_000);
      const out = demo.output;
      const m = out.match(/^Services available:\n {2}localhost:(\d+)\s+→ HTTP/m);
      assert.ok(m, out);
      assert.match(
        out,
        new RegExp(`Fetched http://localhost:${m[1]}/ through the tunnel: HTTP 200`),
      );
      const curlLine = out.match(/^ {2}curl (http:\/\/localhost:\d+\/)$/m);
      assert.ok(curlLine, out);
      assert.equal(curlLine[1], `http://localhost:${m[1]}/`);
      const curl = await new Deno.Command("curl", {
        args: ["-sS", "--max-time", "20", curlLine[1]],
        stdout: "piped",
        stderr: "piped",
      }).output().catch((e) => {
        if (IN_CI) throw e;
        return null;
      });
      if (curl) {
        assert.equal(new TextDecoder().decode(curl.stderr), "");
        assert.match(new TextDecoder().decode(curl.stdout), /<h1>Hello from web01<\/h1>/);
      } else {
        const res = await fetch(curlLine[1]);
        assert.match(await res.text(), /<h1>Hello from web01<\/h1>/);
      }
      demo.child.kill("SIGINT");
      const status = await demo.exited;
      assert.equal(status.code, 0);
      assert.match(demo.output, /\nstopping$/);
      // A log line, not data: scripts reading the demo's stdout do not get it.
      assert.ok(demo.stderrLines.includes("stopping"), demo.stderrLines.join("\n"));
      assert.ok(!demo.stdoutLines.includes("stopping"), "stopping is not on stdout");
    } finally {
      await demo.stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});
