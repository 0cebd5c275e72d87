/** The WebSocket-path MTU of the tunnel engine against the limits it must respect. */
import assert from "node:assert/strict";
import { WEBSOCKET_PATH_MTU } from "../../lib/session/engine.ts";
import { MAX_FRAME_BYTES } from "../../lib/hub/relay.ts";
import { RELAY_HEADER_LEN } from "../../lib/protocol/mod.ts";

Deno.test("a full WebSocket-path packet fits one relay frame of our hub and one IPv4 packet", () => {
  // WireGuard transport overhead: 16-octet header + 16-octet tag; padding to 16 adds none.
  assert.equal(WEBSOCKET_PATH_MTU % 16, 0);
  assert.ok(RELAY_HEADER_LEN + 32 + WEBSOCKET_PATH_MTU <= MAX_FRAME_BYTES);
  assert.ok(WEBSOCKET_PATH_MTU <= 65535, "the IPv4 total length field");
});
