import assert from "node:assert/strict";
import { ConfigError } from "../config/mod.ts";
import { validateAgentConfig } from "./mod.ts";

const machine = (m: Record<string, unknown>) =>
  validateAgentConfig("telad.yaml", { hub: "wss://h", machines: [{ name: "barn", ...m }] })
    .machines[0];

Deno.test("gateway: registered after the services as service 'gateway' (spec §5.2)", () => {
  const m = machine({
    services: [{ port: 5432, name: "postgres", proto: "tcp" }],
    gateway: {
      port: 8080,
      routes: [{ path: "/api/", target: 4000 }, { path: "/", target: 3000 }],
    },
  });
  assert.deepEqual(m.ports, [5432, 8080]);
  assert.deepEqual(m.services, [
    { port: 5432, proto: "tcp", name: "postgres" },
    { port: 8080, proto: "http", name: "gateway", description: "Path-based reverse proxy" },
  ]);
  assert.deepEqual(m.gateway, {
    port: 8080,
    routes: [{ path: "/api/", target: 4000 }, { path: "/", target: 3000 }],
  });
});

Deno.test("gateway: a machine with only a gateway is complete (book, Private web application)", () => {
  const m = machine({ gateway: { port: 80, routes: [{ path: "/", target: 3000 }] } });
  assert.deepEqual(m.ports, [80]);
  assert.equal(m.services[0].name, "gateway");
  // Registered even without routes (spec §5.2); port 0 means no gateway.
  assert.deepEqual(machine({ ports: [22], gateway: { port: 9000 } }).ports, [22, 9000]);
  assert.deepEqual(machine({ ports: [22], gateway: { port: 0, routes: [] } }).ports, [22]);
  assert.throws(() => machine({ gateway: { port: 0 } }), /either 'ports' or 'services'/);
});

Deno.test("gateway: malformed entries name the key", () => {
  const bad = (g: unknown, re: RegExp) =>
    assert.throws(
      () => machine({ gateway: g }),
      (e) => e instanceof ConfigError && re.test(e.message),
    );
  bad([], /'gateway' must be a mapping/);
  bad({ port: 70000, routes: [] }, /gateway\.port must be a port number/);
  bad({ port: 80, routes: { path: "/" } }, /gateway\.routes must be a list/);
  bad({ port: 80, routes: [{ target: 3000 }] }, /gateway\.routes\[0\]\.path/);
  bad({ port: 80, routes: [{ path: "/", target: "x" }] }, /gateway\.routes\[0\]\.target/);
});
