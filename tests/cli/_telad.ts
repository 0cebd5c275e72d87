/**
 * A real `telad -config telad.yaml` process for the management tests (tests/cli/
 * admin_agent_test.ts, tests/interop/console_agents_test.ts): its own HOME and config
 * folder, `TELAD_RESTART=exec`, output collected by {@link Proc}; and the successor a remote
 * restart starts (found in the output, stopped by its pid).
 * @module
 */
import { DENO_DIR, Proc, REPO_ROOT } from "../e2e/harness.ts";
import { waitFor } from "../hub/scripted_peers.ts";

/** A running telad and where its files are. */
export interface TeladProcess {
  proc: Proc;
  dir: string;
  configPath: string;
  /** Pids of successors started by remote restarts (from `restart: started pid N`). */
  successors(): number[];
  /** Stops telad and every successor by pid, then removes {@link dir}. */
  close(): Promise<void>;
}

/**
 * Writes `yaml` to `<temp dir>/telad.yaml`, starts `deno run -A cmd/telad.ts -config <it>`
 * and waits until it logged `registered with hub as "<machine>"`.
 * @throws when it does not register within 60 s (the error carries its output).
 */
export async function startTelad(yaml: string, machine: string): Promise<TeladProcess> {
  const dir = await Deno.makeTempDir({ prefix: "mgmt-telad-" });
  const configPath = `${dir}/telad.yaml`;
  await Deno.writeTextFile(configPath, yaml, { mode: 0o600 });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}cmd/telad.ts`, "-config", configPath],
    env: { HOME: dir, DENO_DIR, NO_COLOR: "1", TELAD_RESTART: "exec" },
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const proc = new Proc("telad", child);
  const successors = () =>
    proc.lines.flatMap((l) => {
      const m = l.match(/restart: started pid (\d+)/);
      return m ? [Number(m[1])] : [];
    });
  try {
    await proc.waitFor(new RegExp(`registered with hub as "${machine}"`), 60_000);
  } catch (e) {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
  return {
    proc,
    dir,
    configPath,
    successors,
    async close() {
      for (const pid of successors()) {
        if (!alive(pid)) continue;
        try {
          Deno.kill(pid, "SIGTERM");
        } catch { /* gone */ }
        await waitFor(() => !alive(pid), `telad successor ${pid} to stop`, 30_000);
      }
      await proc.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** True while process `pid` exists (Linux /proc). */
export function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * True once telad's output shows a second start (`loaded config from`) followed by a
 * registration of `machine`: the successor of a remote restart is registered.
 */
export function registeredAgain(proc: Proc, machine: string): boolean {
  const starts = proc.lines.flatMap((l, i) => /loaded config from /.test(l) ? [i] : []);
  return starts.length >= 2 &&
    proc.lines.slice(starts.at(-1)).some((l) => l.includes(`registered with hub as "${machine}"`));
}
