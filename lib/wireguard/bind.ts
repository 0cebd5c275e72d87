/**
 * The datagram transport under a device (wireguard-go's `conn.Bind`): direct UDP,
 * the hub's UDP relay and its WebSocket relay are all Binds. The device never
 * looks inside an endpoint; it only hands back the one a datagram came from.
 * @module
 */

/** Where a datagram goes; opaque to the device, meaningful to the bind. */
export type BindEndpoint = unknown;

/** A datagram transport. Buffers passed either way are valid only during the call. */
export interface Bind {
  /**
   * Installs the device's receiver; the bind calls it for every datagram that arrives.
   * `from` becomes the peer's endpoint once the datagram authenticates (roaming); a
   * bind with a single fixed destination (a relay) may pass `undefined`, which leaves
   * the configured endpoint unchanged.
   */
  open(receive: (datagram: Uint8Array, from: BindEndpoint) => void): void | Promise<void>;
  /** Sends one datagram (valid only during the call; copy it if sending later). */
  send(datagram: Uint8Array, to: BindEndpoint): void;
  /** Stops receiving and releases the transport. */
  close(): void;
  /**
   * Optional: a stable text form of an endpoint such as "192.0.2.1:51820". The device
   * uses it as the source address in cookies (mac2) and to rate-limit handshakes per
   * source host. Without it, all datagrams count as coming from one source.
   */
  endpointString?(endpoint: BindEndpoint): string;
}
