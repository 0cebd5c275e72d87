/**
 * Cryptokey routing table (whitepaper §2): longest-prefix match from an IP address
 * to the peer allowed to use it, for IPv4 and IPv6.
 * @module
 */

interface Route<T> {
  addr: Uint8Array;
  bits: number;
  value: T;
}

/** An allowed-IP text that is not an IPv4/IPv6 address with an optional prefix length. */
export class InvalidPrefixError extends Error {
  override name = "InvalidPrefixError";
}

/**
 * Parses "a.b.c.d/n", "a.b.c.d" (= /32), "x::y/n" or "x::y" (= /128).
 * @throws {InvalidPrefixError} naming the text when it is not a valid prefix.
 */
export function parsePrefix(text: string): { addr: Uint8Array; bits: number } {
  const [ip, len, extra] = text.trim().split("/");
  const addr = parseIp(ip);
  if (addr === null || extra !== undefined) {
    throw new InvalidPrefixError(`allowed IP "${text}" is not a valid IP prefix`);
  }
  const max = addr.length * 8;
  const bits = len === undefined ? max : Number(len);
  if (!/^\d+$/.test(len ?? String(max)) || bits > max) {
    throw new InvalidPrefixError(`allowed IP "${text}" has a bad prefix length (0..${max})`);
  }
  // Zero host bits so "10.0.0.7/24" means 10.0.0.0/24, like `wg`.
  for (let i = 0; i < addr.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    addr[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { addr, bits };
}

/** Parses a dotted IPv4 or an IPv6 address; null when invalid. */
export function parseIp(text: string): Uint8Array | null {
  if (text.includes(":")) return parseIpv6(text);
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 2 && halves[1] !== "" ? halves[1].split(":") : [];
  const groups = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (groups < 0 || (halves.length === 1 && head.length !== 8)) return null;
  const all = [...head, ...Array(groups).fill("0"), ...tail];
  if (all.length !== 8) return null;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(all[i])) return null;
    const v = parseInt(all[i], 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  return out;
}

/** Formats 4 or 16 address bytes as text. */
export function formatIp(addr: Uint8Array): string {
  if (addr.length === 4) return addr.join(".");
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((addr[i] << 8) | addr[i + 1]).toString(16));
  return g.join(":");
}

/** Longest-prefix-match table from addresses to values (peers). */
export class AllowedIPs<T> {
  #v4: Route<T>[] = [];
  #v6: Route<T>[] = [];

  /**
   * Adds a prefix for `value`; an identical prefix moves to the new value, as in `wg set`.
   * @throws {InvalidPrefixError} on a malformed prefix.
   */
  insert(prefix: string, value: T): void {
    const { addr, bits } = parsePrefix(prefix);
    const list = addr.length === 4 ? this.#v4 : this.#v6;
    const same = list.findIndex((r) => r.bits === bits && equalBytes(r.addr, addr));
    if (same >= 0) list.splice(same, 1);
    list.push({ addr, bits, value });
    list.sort((a, b) => b.bits - a.bits); // longest first, so the first match wins
  }

  /** Removes every prefix of `value`. */
  removeValue(value: T): void {
    this.#v4 = this.#v4.filter((r) => r.value !== value);
    this.#v6 = this.#v6.filter((r) => r.value !== value);
  }

  /** Prefixes of `value` as text. */
  prefixesOf(value: T): string[] {
    return [...this.#v4, ...this.#v6].filter((r) => r.value === value).map((r) =>
      `${formatIp(r.addr)}/${r.bits}`
    );
  }

  /**
   * Finds the value whose prefix best matches the address at `buf[off .. off+len)`
   * (len 4 or 16). Allocation-free, for the per-packet path.
   */
  lookup(buf: Uint8Array, off: number, len: 4 | 16): T | undefined {
    const list = len === 4 ? this.#v4 : this.#v6;
    for (let i = 0; i < list.length; i++) {
      const r = list[i];
      if (matches(r, buf, off)) return r.value;
    }
    return undefined;
  }
}

function matches<T>(r: Route<T>, buf: Uint8Array, off: number): boolean {
  let bits = r.bits;
  let i = 0;
  while (bits >= 8) {
    if (buf[off + i] !== r.addr[i]) return false;
    i++;
    bits -= 8;
  }
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (buf[off + i] & mask) === r.addr[i];
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
