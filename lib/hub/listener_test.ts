/** The accept loop gives back every descriptor it holds when its listener closes. */
import assert from "node:assert/strict";
import { acceptLoop } from "./listener.ts";

function openDescriptors(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

Deno.test({
  name: "starting and stopping the accept loop five times leaks no descriptor (the reserve)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const run = async () => {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const loop = acceptLoop(listener, { onConnection: (c) => c.close() });
      await new Promise((r) => setTimeout(r, 10));
      listener.close();
      await loop;
    };
    await run(); // warm-up: the runtime's own lazily opened descriptors
    const before = openDescriptors();
    for (let i = 0; i < 5; i++) await run();
    assert.equal(openDescriptors(), before);
  },
});
