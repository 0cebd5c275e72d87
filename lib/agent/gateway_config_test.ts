import assert from "node:assert/strict";
import { advertisedServices, MachineAgent, validateAgentConfig } from "./mod.ts";
import { logger } from "../log/mod.ts";

const machine = (m: Record<string, unknown>) =>
  validateAgentConfig("telad.yaml", { hub: "wss://h", machines: [{ name: "barn", ...m }] })
    .machines[0];

function registerOf(m: ReturnType<typeof machine>) {
  const agent = new MachineAgent(m, {
    hubUrl: "wss://h",
    agentId: "a",
    registrationIds: {},
    bind: () => {
      throw new Error("not dialled");
    },
    engine: () => {
      throw new Error("not dialled");
    },
    log: () => logger("test"),
  });
  return agent.registerMessage();
}

Deno.test("gateway: registered after the services as service 'gateway' (spec §5.2)", () => {
  const m = machine({
    services: [{ port: 5432, name: "postgres", proto: "tcp" }],
    gateway: {
      port: 8080,
      routes: [{ path: "/api/", target: 4000 }, { path: "/", target: 3000 }],
    },
  });
  // The configured ports stay the forwarded ones; the registration appends the gateway.
  assert.deepEqual(m.ports, [5432]);
  assert.deepEqual(m.gateway, {
    port: 8080,
    routes: [{ path: "/api/", target: 4000 }, { path: "/", target: 3000 }],
  });
  const msg = registerOf(m);
  assert.deepEqual(msg.ports, [5432, 8080]);
  assert.deepEqual(msg.services, [
    { port: 5432, proto: "tcp", name: "postgres" },
    { port: 8080, proto: "http", name: "gateway", description: "Path-based reverse proxy" },
  ]);
});

Deno.test("gateway: a machine with only a gateway is complete (book, Private web application)", () => {
  const m = machine({ gateway: { port: 80, routes: [{ path: "/", target: 3000 }] } });
  assert.deepEqual(m.ports, []);
  assert.deepEqual(advertisedServices(m), {
    ports: [80],
    services: [{
      port: 80,
      proto: "http",
      name: "gateway",
      description: "Path-based reverse proxy",
    }],
  });
  // Registered even without routes (spec §5.2).
  assert.deepEqual(advertisedServices(machine({ ports: [22], gateway: { port: 9000 } })).ports, [
    22,
    9000,
  ]);
  assert.throws(() => machine({}), /either 'ports' or 'services'/);
});
