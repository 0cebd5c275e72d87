/**
 * The stream API of a connection: backpressure both ways (a writer waits while the peer
 * does not read; a reader that stops reading closes the window), addresses, and errors
 * after the end.
 */
import assert from "node:assert/strict";
import { connectPair, makePair, MiB, readAll, writeAll } from "./_test_util.ts";

Deno.test("a writer waits while the peer does not read: buffered bytes stay bounded", async () => {
  const sendBuf = 256 * 1024, recvBuf = 128 * 1024;
  const p = makePair({ tcp: { sendBufferSize: sendBuf, receiveBufferSize: recvBuf } });
  const [c, s] = await connectPair(p);
  let accepted = 0;
  const w = c.writable.getWriter();
  const chunk = new Uint8Array(16 * 1024);
  const writing = (async () => {
    for (let i = 0; i < 10 * MiB / chunk.length; i++) {
      await w.write(chunk);
      accepted += chunk.length;
    }
    await w.close();
  })();
  await p.clock.advance(5_000);
  assert.ok(accepted > 0, "some writes completed");
  assert.ok(
    accepted <= sendBuf + recvBuf + chunk.length,
    `writes block once both buffers are full (${accepted} octets accepted)`,
  );
  const before = accepted;
  await p.clock.advance(5_000);
  assert.equal(accepted, before, "nothing more is accepted while nobody reads");
  // Reading releases the writer, and every byte arrives.
  const [got] = await p.run(Promise.all([readAll(s), writing]));
  assert.equal(got.length, 10 * MiB);
  c.abort();
  s.abort();
  p.close();
});

Deno.test("a reader that stops reading makes the receiver advertise a smaller window", async () => {
  const p = makePair({ tcp: { receiveBufferSize: 64 * 1024 } });
  const [c, s] = await connectPair(p);
  const w = c.writable.getWriter();
  w.write(new Uint8Array(40 * 1024));
  await p.clock.advance(100);
  const sb = p.b.sockets()[0];
  assert.equal(sb.readableLength, 40 * 1024, "data waits unread in the receive buffer");
  const sa = p.a.sockets()[0];
  assert.ok(sa.sndWnd <= 24 * 1024 + 1024, `the sender sees the window shrink (${sa.sndWnd})`);
  const r = s.readable.getReader();
  const { value } = await p.run(r.read());
  assert.ok(value && value.length > 0);
  r.releaseLock();
  c.abort();
  s.abort();
  p.close();
});

Deno.test("each end reports its own and its peer's address", async () => {
  const p = makePair();
  const [c, s] = await connectPair(p, 8080);
  assert.deepEqual(c.remoteAddress, { address: "10.0.0.2", port: 8080 });
  assert.deepEqual(s.localAddress, { address: "10.0.0.2", port: 8080 });
  assert.equal(s.remoteAddress.address, "10.0.0.1");
  assert.equal(s.remoteAddress.port, c.localAddress.port);
  c.abort();
  s.abort();
  p.close();
});

Deno.test("writing after closeWrite() fails; the read side still works", async () => {
  const p = makePair();
  const [c, s] = await connectPair(p);
  await p.run(c.closeWrite());
  await assert.rejects(c.writable.getWriter().write(new Uint8Array(1)));
  const [got] = await p.run(Promise.all([readAll(c), writeAll(s, new Uint8Array([1, 2, 3]))]));
  assert.deepEqual([...got], [1, 2, 3]);
  p.close();
});
