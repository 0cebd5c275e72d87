import assert from "node:assert/strict";
import { normaliseServices, portLabel, portsDetail, sessionDetail } from "./services.ts";

Deno.test("services: labels, normalisation and history details like the Go hub", () => {
  assert.equal(portLabel(8443), "HTTPS-Alt");
  assert.equal(portLabel(2222), "port 2222");
  assert.deepEqual(normaliseServices(undefined, [22, 0, 5900]), [
    { port: 22, proto: "tcp", name: "SSH", description: "" },
    { port: 5900, proto: "tcp", name: "VNC", description: "" },
  ]);
  const s = normaliseServices([{ port: 3389, proto: "TCP", name: "", description: "Desk" }], [22]);
  assert.deepEqual(s, [{ port: 3389, proto: "tcp", name: "RDP", description: "Desk" }]);
  assert.equal(portsDetail(normaliseServices(undefined, [22, 3389])), "ports=[22 3389]");
  const both = normaliseServices(undefined, [22, 3389]);
  assert.equal(sessionDetail(both), "services=SSH:22,RDP:3389");
  assert.equal(sessionDetail(both, [3389]), "services=RDP:3389");
  assert.equal(sessionDetail(both, [1]), "");
});
