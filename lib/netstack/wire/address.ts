/**
 * IPv4 addresses as unsigned 32-bit numbers (host order), which is what every hot path
 * compares; dotted strings only at the API edge.
 * @module
 */

/** Error thrown for a string that is not a dotted-quad IPv4 address. */
export class InvalidAddressError extends Error {
  override name = "InvalidAddressError";
}

/**
 * Parses a dotted-quad IPv4 address ("10.77.1.2") into an unsigned 32-bit number.
 * @throws {InvalidAddressError} when `text` is not four decimal octets 0..255.
 */
export function parseIpv4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4) {
    throw new InvalidAddressError(`"${text}" is not an IPv4 address: expected a.b.c.d`);
  }
  let value = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) {
      throw new InvalidAddressError(`"${text}" is not an IPv4 address: "${p}" is not 0..255`);
    }
    value = value * 256 + Number(p);
  }
  return value >>> 0;
}

/** Formats an unsigned 32-bit IPv4 address as a dotted quad. */
export function formatIpv4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}
