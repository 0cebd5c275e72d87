/**
 * The datagram transport under a device (wireguard-go's `conn.Bind`): direct UDP,
 * the hub's UDP relay and its WebSocket relay are all Binds. The device never
 * looks inside an endpoint; it only hands back the one a datagram came from.
 * @module
 */

/**
 * Octets the device keeps free in front of every transport message it hands to
 * {@link Bind.send}: room for a relay frame header (7 octets in Tela) and spare.
 */
export const TRANSPORT_HEADROOM = 16;

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
  /**
   * Sends one datagram (valid only during the call; copy it if sending later).
   * @param headroom octets directly in front of `datagram`, in the same buffer, that the
   *   bind may overwrite during the call (e.g. to put a relay header there without a copy);
   *   0 when there are none. The device gives {@link TRANSPORT_HEADROOM} for transport data.
   */
  send(datagram: Uint8Array, to: BindEndpoint, headroom?: number): void;
  /** Stops receiving and releases the transport. */
  close(): void;
  /**
   * Optional: a stable text form of an endpoint such as "192.0.2.1:51820". The device
   * uses it as the source address in cookies (mac2) and to rate-limit handshakes per
   * source host. Without it, all datagrams count as coming from one source.
   */
  endpointString?(endpoint: BindEndpoint): string;
}
