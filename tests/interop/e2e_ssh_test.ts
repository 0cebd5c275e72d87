/**
 * Real OpenSSH through the tunnel (issue #5, item 5): `sshd` on a loopback port (as
 * /work/shared/testing/real-peers.md §3 shows), `telahubd` + `telad` + `tela connect` as
 * real processes, and `ssh` through the client's local port running a command.
 * Needs root (sshd privilege separation) and openssh-server/-client; skips otherwise,
 * except in CI (CI=true) where a missing prerequisite is a failure.
 */
import assert from "node:assert/strict";
import {
  freeTcpPort,
  IN_CI,
  type Proc,
  startAgent,
  startClient,
  startHub,
  tunnelUps,
} from "../e2e/harness.ts";

function missingPrerequisite(): string | null {
  if (Deno.build.os !== "linux") return "not Linux";
  if (Deno.uid() !== 0) return "not root (sshd needs root for privilege separation)";
  for (const bin of ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"]) {
    try {
      Deno.statSync(bin);
    } catch {
      return `${bin} missing (apt-get install openssh-server openssh-client)`;
    }
  }
  return null;
}

const why = missingPrerequisite();
if (why && IN_CI) throw new Error(`e2e ssh test cannot run in CI: ${why}`);

async function run(cmd: string, args: string[], input?: Uint8Array) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: input ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input) {
    const w = child.stdin.getWriter();
    await w.write(input);
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test({
  name: "ssh runs a command on a real sshd through telahubd + telad + tela",
  ignore: why !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const d = await Deno.makeTempDir({ prefix: "e2e-ssh-" });
    const procs: Proc[] = [];
    let sshd: Deno.ChildProcess | undefined;
    try {
      await Deno.mkdir("/run/sshd", { recursive: true });
      for (const k of ["hostkey", "clientkey"]) {
        assert.equal(
          (await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${d}/${k}`])).code,
          0,
        );
      }
      await Deno.copyFile(`${d}/clientkey.pub`, `${d}/authorized_keys`);
      await Deno.chmod(`${d}/authorized_keys`, 0o600);
      const sshPort = freeTcpPort();
      await Deno.writeTextFile(
        `${d}/sshd_config`,
        [
          `Port ${sshPort}`,
          "ListenAddress 127.0.0.1",
          `HostKey ${d}/hostkey`,
          `PidFile ${d}/sshd.pid`,
          `AuthorizedKeysFile ${d}/authorized_keys`,
          "PasswordAuthentication no",
          "KbdInteractiveAuthentication no",
          "PubkeyAuthentication yes",
          "PermitRootLogin prohibit-password",
          "UsePAM no",
          "StrictModes no",
          "X11Forwarding no",
          "",
        ].join("\n"),
      );
      assert.equal((await run("/usr/sbin/sshd", ["-t", "-f", `${d}/sshd_config`])).code, 0);
      sshd = new Deno.Command("/usr/sbin/sshd", {
        args: ["-D", "-e", "-f", `${d}/sshd_config`],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const owner = "55".repeat(32);
      const hub = await startHub(d, owner);
      procs.push(hub.proc);
      procs.push(startAgent(`${d}`, hub.url, "web01", owner, `${sshPort}:SSH`));
      const local = freeTcpPort();
      assert.notEqual(local, sshPort, "ssh must go through tela's listener, not to sshd");
      const client = startClient(`${d}`, [
        "-v",
        "-hub",
        hub.url,
        "-machine",
        "web01",
        "-token",
        owner,
        "-ports",
        `${local}:${sshPort}`,
      ]);
      procs.push(client);
      await tunnelUps(client, 1);
      const ssh = (command: string, input?: Uint8Array) =>
        run("ssh", [
          "-p",
          String(local),
          "-i",
          `${d}/clientkey`,
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "BatchMode=yes",
          "-o",
          "ConnectTimeout=20",
          "root@127.0.0.1",
          command,
        ], input);
      let last = { code: -1, stdout: "", stderr: "" };
      for (let i = 0; i < 10; i++) {
        last = await ssh("echo logged-in-as $(whoami) via tela");
        if (last.code === 0) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      assert.equal(last.code, 0, last.stderr);
      assert.equal(last.stdout, "logged-in-as root via tela\n");
      // The connection was carried by the tunnel (tela -v logs every tunnel dial).
      await client.waitFor(new RegExp(`tunnel connected to web01:${sshPort}`), 10_000);
      // A byte-exact transfer over the ssh session: 8 MiB in, its hash back.
      const data = new Uint8Array(8 * 1024 * 1024);
      for (let o = 0; o < data.length; o += 65536) {
        crypto.getRandomValues(data.subarray(o, o + 65536));
      }
      const want = Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", data)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      const sum = await ssh("sha256sum", data);
      assert.equal(sum.code, 0, sum.stderr);
      assert.equal(sum.stdout, `${want}  -\n`);
    } finally {
      for (const p of procs.reverse()) await p.stop();
      try {
        sshd?.kill("SIGTERM");
        await sshd?.status;
      } catch { /* gone */ }
      await Deno.remove(d, { recursive: true });
    }
  },
});
