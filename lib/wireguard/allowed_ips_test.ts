import assert from "node:assert/strict";
import { AllowedIPs, InvalidPrefixError, parseIp, parsePrefix } from "./allowed_ips.ts";
import { Device } from "./device.ts";
import { generateKeyPair, InvalidKeyError } from "./keys.ts";
import { memoryBindPair } from "./memory_bind.ts";

const ip4 = (s: string) => parseIp(s)!;

Deno.test("allowed IPs: longest prefix wins for IPv4 and IPv6", () => {
  const t = new AllowedIPs<string>();
  t.insert("0.0.0.0/0", "default");
  t.insert("10.77.0.0/16", "tela");
  t.insert("10.77.3.2/32", "client3");
  t.insert("fd00::/8", "v6");
  t.insert("fd00::1", "v6host");
  assert.equal(t.lookup(ip4("10.77.3.2"), 0, 4), "client3");
  assert.equal(t.lookup(ip4("10.77.3.3"), 0, 4), "tela");
  assert.equal(t.lookup(ip4("192.0.2.1"), 0, 4), "default");
  assert.equal(t.lookup(parseIp("fd00::1")!, 0, 16), "v6host");
  assert.equal(t.lookup(parseIp("fd12::1")!, 0, 16), "v6");
  assert.equal(t.lookup(parseIp("2001:db8::1")!, 0, 16), undefined);
  t.removeValue("client3");
  assert.equal(t.lookup(ip4("10.77.3.2"), 0, 4), "tela");
  assert.deepEqual(t.prefixesOf("tela"), ["10.77.0.0/16"]);
});

Deno.test("allowed IPs: an odd prefix length masks host bits; bad prefixes are refused", () => {
  assert.deepEqual(parsePrefix("10.77.1.255/23"), { addr: Uint8Array.of(10, 77, 0, 0), bits: 23 });
  const t = new AllowedIPs<number>();
  t.insert("10.77.1.7/23", 1);
  assert.equal(t.lookup(ip4("10.77.0.1"), 0, 4), 1);
  assert.equal(t.lookup(ip4("10.77.2.1"), 0, 4), undefined);
  for (
    const bad of [
      "10.77.1/24",
      "10.77.1.1/33",
      "300.1.1.1/32",
      "1.2.3.4/x",
      "fd00:::1/64",
      "::1/129",
    ]
  ) {
    assert.throws(() => parsePrefix(bad), /allowed IP/, bad);
  }
});

Deno.test("a malformed allowed IP is an InvalidPrefixError, also from Device.addPeer", () => {
  assert.throws(() => parsePrefix("10.0.0.1/33"), InvalidPrefixError);
  const dev = new Device({
    privateKey: generateKeyPair().privateKey,
    bind: memoryBindPair()[0],
    onPacket: () => {},
  });
  try {
    const publicKey = generateKeyPair().publicKey;
    assert.throws(
      () => dev.addPeer({ publicKey, allowedIPs: ["10.0.0.0/8", "nonsense"] }),
      (e) => e instanceof InvalidPrefixError && e.name === "InvalidPrefixError",
    );
    assert.equal(dev.peers.length, 0, "a refused peer is not added");
    assert.throws(
      () => dev.addPeer({ publicKey: new Uint8Array(31), allowedIPs: [] }),
      InvalidKeyError,
    );
  } finally {
    dev.close();
  }
});
