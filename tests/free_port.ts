/**
 * A loopback port for tests: bound on 127.0.0.1 with port 0, read back, and released. The
 * port is then free (a listener may take it) and closed (a dial gets ECONNREFUSED), until
 * something else on the machine binds it; good enough for tests.
 * @module
 */

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now.
 * @returns the port number, 1..65535.
 */
export function freeTcpPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}
