import assert from "node:assert/strict";
import {
  advertisedName,
  candidatePorts,
  formatServicesBlock,
  hubHttpBase,
  listenWithFallback,
  LocalListenError,
  parseClientPorts,
  portLabel,
} from "./mod.ts";
import { backoffDelay, formatSeconds, parseAgentPorts } from "../session/mod.ts";

Deno.test("client -ports: '22,2222:22' maps 22→22 and 2222→22; bad parts are named", () => {
  assert.deepEqual(parseClientPorts("22, 2222:22,,"), [
    { local: 22, remote: 22 },
    { local: 2222, remote: 22 },
  ]);
  assert.throws(() => parseClientPorts("22,x"), /invalid port "x": "x" is not a valid port number/);
  assert.throws(() => parseClientPorts("80:0"), /invalid remote port in "80:0"/);
  assert.throws(() => parseClientPorts("99999:80"), /invalid local port in "99999:80"/);
});

Deno.test("agent -ports: '22:SSH,80:HTTP:web server' gives named services; junk is skipped", () => {
  const skipped: string[] = [];
  assert.deepEqual(parseAgentPorts("22:SSH, 80:HTTP:web server,abc,3389", (p) => skipped.push(p)), [
    { port: 22, proto: "tcp", name: "SSH" },
    { port: 80, proto: "tcp", name: "HTTP", description: "web server" },
    { port: 3389, proto: "tcp" },
  ]);
  assert.deepEqual(skipped, ["abc"]);
  assert.throws(() => parseAgentPorts("x,y"), /no valid ports in: x,y/);
});

Deno.test("labels come from the well-known table, else 'port N'", () => {
  assert.equal(portLabel(22), "SSH");
  assert.equal(portLabel(8080), "HTTP");
  assert.equal(portLabel(5432), "port 5432");
});

Deno.test("port fallback tries L, then L+10000 upward, never L+1..L+9999", () => {
  const it = candidatePorts(22);
  assert.deepEqual([it.next().value, it.next().value, it.next().value], [22, 10022, 10023]);
  assert.deepEqual([...candidatePorts(60000)], [60000]);
});

Deno.test("a busy local port falls back to port+10000", () => {
  // Find a port P with P and P+10000 both free, hold P, then ask for P.
  for (let tries = 0; tries < 50; tries++) {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = (probe.addr as Deno.NetAddr).port;
    if (p + 10000 > 65535) {
      probe.close();
      continue;
    }
    let got;
    try {
      got = listenWithFallback(p);
    } finally {
      probe.close();
    }
    got.listener.close();
    assert.ok(got.port >= p + 10000, `got ${got.port} for busy ${p}`);
    assert.equal(got.refused, "in-use");
    return;
  }
  throw new Error("no usable ephemeral port found");
});

Deno.test("the Services block reads as the book shows, in Go's column layout", () => {
  assert.equal(
    formatServicesBlock([{ localPort: 22, remotePort: 22 }]),
    "Services available:\n  localhost:22    → SSH",
  );
  assert.equal(
    formatServicesBlock([
      { localPort: 3389, remotePort: 3389, machine: "acme-desktop-01" },
      { localPort: 13389, remotePort: 3389, machine: "acme-desktop-02" },
      { localPort: 5432, remotePort: 5432, machine: "db-01" },
    ]),
    [
      "Services available:",
      "  localhost:3389  → RDP (acme-desktop-01)",
      "  localhost:13389 → RDP (acme-desktop-02)",
      "  localhost:5432  → port 5432 (db-01)",
    ].join("\n"),
  );
  assert.equal(
    formatServicesBlock([{ localPort: 10022, remotePort: 22 }], [22]),
    "Services available:\n  localhost:10022 → SSH (127.0.0.1:22 in use, moved to 10022)",
  );
  assert.equal(
    formatServicesBlock([{ localPort: 12222, remotePort: 22, machine: "web01" }], [2222]),
    "Services available:\n  localhost:12222 → SSH (web01, 127.0.0.1:2222 in use, moved to 12222)",
  );
});

Deno.test("backoff: 3 s doubling to 300 s, ±25 %, at least 1 s; Go-style durations", () => {
  assert.equal(backoffDelay(0, () => 0.5), 3000);
  assert.equal(backoffDelay(1, () => 0.5), 6000);
  assert.equal(backoffDelay(7, () => 0.5), 300000);
  assert.equal(backoffDelay(50, () => 0.5), 300000);
  assert.equal(backoffDelay(0, () => 0), 2250);
  assert.equal(backoffDelay(0, () => 0.999999), 3750);
  assert.equal(formatSeconds(6000), "6s");
  assert.equal(formatSeconds(96000), "1m36s");
  assert.equal(formatSeconds(300000), "5m0s");
  assert.equal(hubHttpBase("wss://h.example.com/"), "https://h.example.com");
  assert.equal(hubHttpBase("ws://127.0.0.1:8080"), "http://127.0.0.1:8080");
});

Deno.test("a busy port without a fallback range says which address and port are in use", () => {
  // Ports above 55535 have no +10000 candidates: the error is the only outcome.
  for (let p = 65535 - Math.floor(Math.random() * 5000); p > 55535; p--) {
    let probe;
    try {
      probe = Deno.listen({ hostname: "127.0.0.1", port: p });
    } catch {
      continue;
    }
    try {
      assert.throws(
        () => listenWithFallback(p),
        (e: Error) =>
          e instanceof LocalListenError &&
          e.message.startsWith(`127.0.0.1:${p} in use; choose another local port`),
      );
    } finally {
      probe.close();
    }
    return;
  }
  throw new Error("no free port above 55535 found");
});

Deno.test("listeners bind the loopback address asked for; an address not on this machine is named", () => {
  const got = listenWithFallback(0, "127.0.0.2");
  try {
    assert.equal((got.listener.addr as Deno.NetAddr).hostname, "127.0.0.2");
    assert.equal(got.refused, undefined);
  } finally {
    got.listener.close();
  }
  // Binding an address no interface has fails at once (EADDRNOTAVAIL), no packet sent.
  assert.throws(
    () => listenWithFallback(40000, "192.0.2.77"),
    /could not bind 192\.0\.2\.77:40000: address 192\.0\.2\.77 is not available on this machine/,
  );
});

Deno.test("the Services block shows the agent's name, the bound address and why a port moved", () => {
  assert.equal(
    formatServicesBlock([{ localPort: 5432, remotePort: 5432, name: "postgres" }]),
    "Services available:\n  localhost:5432  → postgres",
  );
  assert.equal(
    formatServicesBlock([{ localPort: 22, remotePort: 22, address: "127.99.1.1" }]),
    "Services available:\n  127.99.1.1:22    → SSH",
  );
  assert.equal(
    formatServicesBlock([{ localPort: 10022, remotePort: 22, refused: "privileged" }], [22]),
    "Services available:\n  localhost:10022 → SSH (127.0.0.1:22 needs privileges " +
      "(ports below 1024 need root or CAP_NET_BIND_SERVICE), moved to 10022)",
  );
});

Deno.test("advertised names: the agent's own, never the hub's stand-in label; control characters escaped", () => {
  assert.equal(advertisedName({ port: 5432, name: "postgres" }), "postgres");
  assert.equal(advertisedName({ port: 5432, name: "port 5432" }), undefined);
  assert.equal(advertisedName({ port: 8080, name: "HTTP-Alt" }), undefined);
  assert.equal(advertisedName({ port: 22, name: "SSH" }), "SSH");
  assert.equal(advertisedName({ port: 22 }), undefined);
  assert.equal(advertisedName({ port: 1, name: "a\nb\x1b" }), "a\\x0ab\\x1b");
});
