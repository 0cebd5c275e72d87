import assert from "node:assert/strict";
import { freeTcpPort } from "../../tests/free_port.ts";
import type { Logger } from "../log/mod.ts";
import { type AttemptResult, reconnectLoop, SignalSocket } from "./mod.ts";

/** A logger that keeps `level message` lines. */
function recordingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  return {
    lines,
    log: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
  };
}

/** A loopback port with nothing listening on it (bound, then released). */
const closedPort = freeTcpPort;

Deno.test("an unreachable hub gets one warn line per attempt: URL, cause, delay, attempt number", async () => {
  const hubUrl = `ws://127.0.0.1:${closedPort()}`;
  const { log, lines } = recordingLog();
  const stop = new AbortController();
  const delays: number[] = [];
  let dials = 0;
  await reconnectLoop(async () => {
    dials++;
    await SignalSocket.dial(hubUrl); // refused: throws HubDialError
    return "reset";
  }, {
    hubUrl,
    log,
    signal: stop.signal,
    random: () => 0.5,
    sleep: (ms) => {
      delays.push(ms);
      if (delays.length === 3) stop.abort();
      return Promise.resolve();
    },
  });
  assert.equal(dials, 3);
  assert.deepEqual(delays, [3000, 6000, 12000]);
  assert.equal(lines.length, 3, lines.join("\n"));
  const escaped = hubUrl.replaceAll(".", "\\.");
  lines.forEach((line, i) => {
    assert.match(
      line,
      new RegExp(
        `^warn could not reach hub ${escaped}: connection refused by ${escaped.slice(5)} .+; ` +
          `retrying in ${[3, 6, 12][i]}s \\(attempt ${i + 1}\\)$`,
      ),
    );
  });
});

Deno.test("the backoff starts over after a reset attempt and grows after a failed one (spec §10)", async () => {
  const { log, lines } = recordingLog();
  const stop = new AbortController();
  const script: AttemptResult[] = ["grow", "grow", "reset", "grow", "grow", "grow"];
  const delays: number[] = [];
  await reconnectLoop(() => Promise.resolve(script[delays.length]), {
    hubUrl: "ws://hub.invalid",
    log,
    signal: stop.signal,
    random: () => 0.5,
    sleep: (ms) => {
      delays.push(ms);
      if (delays.length === script.length) stop.abort();
      return Promise.resolve();
    },
  });
  assert.deepEqual(delays, [3000, 6000, 3000, 3000, 6000, 12000]);
  assert.equal(lines[0], "info reconnecting to hub ws://hub.invalid in 3s...");
});

Deno.test("an error other than an unreachable hub ends the loop and reaches the caller", async () => {
  class RefusedForGood extends Error {
    override name = "RefusedForGood";
  }
  const { log } = recordingLog();
  let attempts = 0;
  await assert.rejects(
    reconnectLoop(() => {
      attempts++;
      return attempts < 3 ? Promise.resolve("grow") : Promise.reject(new RefusedForGood("no"));
    }, {
      hubUrl: "ws://hub.invalid",
      log,
      signal: new AbortController().signal,
      sleep: () => Promise.resolve(),
    }),
    RefusedForGood,
  );
  assert.equal(attempts, 3);
});

Deno.test("stopping during a wait ends the loop without another attempt", async () => {
  const { log } = recordingLog();
  const stop = new AbortController();
  let attempts = 0;
  const run = reconnectLoop(() => (attempts++, Promise.resolve("grow")), {
    hubUrl: "ws://hub.invalid",
    log,
    signal: stop.signal,
  });
  await new Promise((r) => setTimeout(r, 50));
  stop.abort();
  await run;
  assert.equal(attempts, 1);
});

Deno.test("a label names what is retried in the info line", async () => {
  const { log, lines } = recordingLog();
  const stop = new AbortController();
  await reconnectLoop(() => Promise.resolve("grow"), {
    hubUrl: "ws://hub.invalid",
    log,
    signal: stop.signal,
    random: () => 0.5,
    label: "retrying service resolution",
    sleep: () => (stop.abort(), Promise.resolve()),
  });
  assert.deepEqual(lines, ["info retrying service resolution in 3s..."]);
});
