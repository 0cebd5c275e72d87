/**
 * Small programs the NAT lab (tests/interop/_nat_lab.ts) runs inside its namespaces with
 * `ip netns exec <ns> deno run -A tests/interop/_nat_peer.ts <mode> ...`: the test process
 * itself lives in the root namespace and cannot open sockets in the lab's.
 *
 * Modes (each prints one JSON line on stdout when it has a result):
 * - `echo <port>`: a TCP echo server on 127.0.0.1:`port`; prints `{"listening":port}`, then
 *   echoes every connection until killed.
 * - `xfer <port> <bytes> [timeoutMs]`: connects to 127.0.0.1:`port`, sends `bytes` random
 *   bytes while reading as many back; prints `{"bytes","sentSha256","receivedSha256","ms"}`.
 *   Exit 1 (with the reason on stderr) when the echo is short or the time runs out.
 * - `stun <host:port> [<host:port> ...]`: from ONE UDP socket bound to 0.0.0.0 (as a bind
 *   does; nat-lab.md gotcha 3), sends an RFC 5389 Binding Request to each server and prints
 *   `{"mapped":["ip:port"|null, ...]}` (XOR-MAPPED-ADDRESS, 3 s per server).
 * - `get <url> <bearerToken>`: HTTP GET; prints the body (e.g. the hub's `/api/status`).
 * - `punch <port> <stunHost:port> <durationMs>`: a bare hole punch (nat-lab.md, without our
 *   code): binds 0.0.0.0:`port`, asks the STUN server, prints `{"mapped":"ip:port"}`, reads
 *   the peer's reflexive address as one line on stdin, then sends `TPUNCH` to it every
 *   100 ms for `durationMs` and prints `{"received":n}` (datagrams from the peer's address).
 * @module
 */
import dgram from "node:dgram";

const STUN_MAGIC_COOKIE = 0x2112a442;

function hex(b: ArrayBuffer): string {
  return Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
}

async function echo(port: number): Promise<void> {
  const l = Deno.listen({ hostname: "127.0.0.1", port });
  console.log(JSON.stringify({ listening: port }));
  for await (const c of l) {
    c.setNoDelay(true);
    c.readable.pipeTo(c.writable).catch(() => {});
  }
}

/** Runs `p`, rejecting after `ms` with `what` in the message. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, rej) => {
      t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

async function xfer(port: number, bytes: number, timeoutMs: number): Promise<void> {
  const data = new Uint8Array(bytes);
  for (let o = 0; o < data.length; o += 65536) {
    crypto.getRandomValues(data.subarray(o, Math.min(o + 65536, data.length)));
  }
  const sentSha256 = hex(await crypto.subtle.digest("SHA-256", data));
  const t0 = performance.now();
  const conn = await within(
    Deno.connect({ hostname: "127.0.0.1", port }),
    10_000,
    `connect 127.0.0.1:${port}`,
  );
  conn.setNoDelay(true);
  const got = new Uint8Array(bytes);
  let n = 0;
  const reader = (async () => {
    const r = conn.readable.getReader();
    while (n < bytes) {
      const { value, done } = await r.read();
      if (done) throw new Error(`echo closed after ${n} of ${bytes} bytes`);
      const take = Math.min(value.length, bytes - n);
      got.set(value.subarray(0, take), n);
      n += take;
      if (take < value.length) throw new Error(`echo sent more than ${bytes} bytes`);
    }
    r.releaseLock();
  })();
  const writer = (async () => {
    const w = conn.writable.getWriter();
    for (let o = 0; o < bytes; o += 65536) await w.write(data.subarray(o, o + 65536));
    w.releaseLock();
  })();
  try {
    await within(Promise.all([reader, writer]), timeoutMs, `echo of ${bytes} bytes (${n} back)`);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  const receivedSha256 = hex(await crypto.subtle.digest("SHA-256", got));
  console.log(JSON.stringify({
    bytes,
    sentSha256,
    receivedSha256,
    ms: Math.round(performance.now() - t0),
  }));
}

/** RFC 5389 §6 Binding Request: type 0x0001, length 0, magic cookie, 12-byte transaction id. */
function bindingRequest(): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint16(0, 0x0001);
  v.setUint16(2, 0);
  v.setUint32(4, STUN_MAGIC_COOKIE);
  crypto.getRandomValues(b.subarray(8, 20));
  return b;
}

/** XOR-MAPPED-ADDRESS (RFC 5389 §15.2, IPv4) of a Binding Success Response to `req`, else null. */
function mappedAddress(res: Uint8Array, req: Uint8Array): string | null {
  if (res.length < 20) return null;
  const v = new DataView(res.buffer, res.byteOffset, res.byteLength);
  if (v.getUint16(0) !== 0x0101 || v.getUint32(4) !== STUN_MAGIC_COOKIE) return null;
  for (let i = 8; i < 20; i++) if (res[i] !== req[i]) return null;
  const end = Math.min(res.length, 20 + v.getUint16(2));
  for (let o = 20; o + 4 <= end;) {
    const type = v.getUint16(o), len = v.getUint16(o + 2);
    if (type === 0x0020 && len >= 8 && res[o + 5] === 0x01) {
      const port = v.getUint16(o + 6) ^ 0x2112;
      const ip = (v.getUint32(o + 8) ^ STUN_MAGIC_COOKIE) >>> 0;
      return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:${port}`;
    }
    o += 4 + Math.ceil(len / 4) * 4;
  }
  return null;
}

async function stun(servers: string[]): Promise<void> {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((res) => sock.bind(0, "0.0.0.0", () => res()));
  const mapped: (string | null)[] = [];
  try {
    for (const s of servers) {
      const i = s.lastIndexOf(":");
      const req = bindingRequest();
      const answer = new Promise<string | null>((res) => {
        const t = setTimeout(() => {
          sock.off("message", on);
          res(null);
        }, 3000);
        const on = (msg: Uint8Array) => {
          const m = mappedAddress(new Uint8Array(msg), req);
          if (m === null) return;
          clearTimeout(t);
          sock.off("message", on);
          res(m);
        };
        sock.on("message", on);
      });
      sock.send(req, Number(s.slice(i + 1)), s.slice(0, i));
      mapped.push(await answer);
    }
  } finally {
    sock.close();
  }
  console.log(JSON.stringify({ mapped }));
}

/** Reads one line from stdin. */
async function readLine(): Promise<string> {
  const r = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await r.read();
    if (done) break;
    buf += value;
  }
  r.releaseLock();
  return buf.split("\n")[0].trim();
}

async function punch(port: number, stunServer: string, durationMs: number): Promise<void> {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((res) => sock.bind(port, "0.0.0.0", () => res()));
  try {
    const req = bindingRequest();
    const mapped = new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no STUN answer from ${stunServer}`)), 3000);
      sock.on("message", (msg: Uint8Array) => {
        const m = mappedAddress(new Uint8Array(msg), req);
        if (m !== null) {
          clearTimeout(t);
          res(m);
        }
      });
    });
    const i = stunServer.lastIndexOf(":");
    sock.send(req, Number(stunServer.slice(i + 1)), stunServer.slice(0, i));
    console.log(JSON.stringify({ mapped: await mapped }));
    const peer = await readLine();
    const j = peer.lastIndexOf(":");
    const peerHost = peer.slice(0, j), peerPort = Number(peer.slice(j + 1));
    let received = 0;
    sock.on("message", (_msg: Uint8Array, rinfo: { address: string; port: number }) => {
      if (rinfo.address === peerHost) received++;
    });
    const punchBytes = new TextEncoder().encode("TPUNCH");
    const end = Date.now() + durationMs;
    while (Date.now() < end) {
      sock.send(punchBytes, peerPort, peerHost);
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(JSON.stringify({ received }));
  } finally {
    sock.close();
  }
}

async function get(url: string, token: string): Promise<void> {
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}: ${body}`);
  console.log(body.replaceAll("\n", " "));
}

if (import.meta.main) {
  const [mode, ...args] = Deno.args;
  try {
    if (mode === "echo") await echo(Number(args[0]));
    else if (mode === "xfer") {
      await xfer(Number(args[0]), Number(args[1]), Number(args[2] ?? 120_000));
    } else if (mode === "stun") await stun(args);
    else if (mode === "get") await get(args[0], args[1]);
    else if (mode === "punch") await punch(Number(args[0]), args[1], Number(args[2]));
    else throw new Error(`unknown mode ${mode}: use echo, xfer, stun, get or punch`);
  } catch (err) {
    console.error(`_nat_peer ${mode}: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
