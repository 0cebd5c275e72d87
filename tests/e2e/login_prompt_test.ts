/**
 * `tela login` at a real terminal (a pseudo-terminal made by util-linux `script`): the
 * question is asked, the token typed is never echoed, and nothing else is printed (book,
 * *TDL for the command line*: "Password / token input is masked", "tela login echoes
 * nothing").
 */
import assert from "node:assert/strict";
import { DENO_DIR, REPO_ROOT } from "./harness.ts";

const hasScript = await new Deno.Command("script", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "tela login at a terminal asks for the token without echoing it, and prints nothing else",
  ignore: !hasScript,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "e2e-login-" });
    const tela = `${Deno.execPath()} run -A ${REPO_ROOT}cmd/tela.ts login wss://hub.example.com`;
    const child = new Deno.Command("script", {
      args: ["-qec", tela, "/dev/null"],
      env: { HOME: home, NO_COLOR: "1", DENO_DIR },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let seen = "";
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const until = async (text: string) => {
      const deadline = Date.now() + 60_000;
      while (!seen.includes(text)) {
        assert.ok(Date.now() < deadline, `no "${text}" in ${JSON.stringify(seen)}`);
        const { value, done } = await reader.read();
        if (done) break;
        seen += value;
      }
    };
    const writer = child.stdin.getWriter();
    const type = (t: string) => writer.write(new TextEncoder().encode(t));
    try {
      await until("Token: ");
      await type("sekret-token-123\r");
      await until("Identity (press Enter to skip): ");
      await type("alice\r");
      await writer.close();
      const status = await child.status;
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += value;
      }
      assert.equal(status.code, 0, seen);
      assert.ok(!seen.includes("sekret"), `the token was echoed: ${JSON.stringify(seen)}`);
      assert.equal(
        seen.replaceAll("\r", ""),
        "Token: \nIdentity (press Enter to skip): alice\n",
        "the questions and the echoed identity only",
      );
      const creds = await Deno.readTextFile(`${home}/.tela/credentials.yaml`);
      assert.match(
        creds,
        /wss:\/\/hub\.example\.com:\n\s+token: sekret-token-123\n\s+identity: alice/,
      );
    } finally {
      try {
        child.kill();
      } catch { /* exited */ }
      await child.stderr.cancel().catch(() => {});
      await Deno.remove(home, { recursive: true });
    }
  },
});
