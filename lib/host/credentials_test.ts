import assert from "node:assert/strict";
import { withHome } from "../../tests/with_home.ts";
import {
  ensureWsScheme,
  loadCredentials,
  lookupStoredToken,
  normalizeHubKey,
  removeCredential,
  resolveClientToken,
  storeCredential,
  userCredentialsPath,
} from "./mod.ts";

Deno.test("hub URLs are normalised: trailing slashes gone, scheme lower-cased, host kept", () => {
  assert.equal(normalizeHubKey("WSS://Hub.Example.com//"), "wss://Hub.Example.com");
  assert.equal(normalizeHubKey("ws://127.0.0.1:8080/"), "ws://127.0.0.1:8080");
  assert.equal(ensureWsScheme("hub.example.com"), "wss://hub.example.com");
  assert.equal(ensureWsScheme("https://h"), "wss://h");
  assert.equal(ensureWsScheme("http://h:8080"), "ws://h:8080");
  assert.equal(ensureWsScheme("WS://h"), "WS://h");
});

Deno.test("login stores a token 0600 under the normalised URL; lookup and logout use the same key", async () => {
  await withHome(async () => {
    await storeCredential("WSS://hub.example.com/", { token: "a".repeat(64), identity: "alice" });
    const path = userCredentialsPath();
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const file = await loadCredentials(path);
    assert.deepEqual(file.hubs, {
      "wss://hub.example.com": { token: "a".repeat(64), identity: "alice" },
    });
    assert.equal(await lookupStoredToken("wss://hub.example.com///", [path]), "a".repeat(64));
    assert.equal(await lookupStoredToken("wss://other", [path]), undefined);
    assert.equal(await removeCredential("wss://hub.example.com"), true);
    assert.equal(await removeCredential("wss://hub.example.com"), false);
    assert.equal(await lookupStoredToken("wss://hub.example.com", [path]), undefined);
  });
});

Deno.test("client token order: -token, then TELA_TOKEN, then the credential store", async () => {
  await withHome(async () => {
    await storeCredential("ws://h:1", { token: "stored" });
    assert.equal(await resolveClientToken(undefined, "ws://h:1"), "stored");
    Deno.env.set("TELA_TOKEN", "fromenv");
    try {
      assert.equal(await resolveClientToken(undefined, "ws://h:1"), "fromenv");
      assert.equal(await resolveClientToken("flag", "ws://h:1"), "flag");
    } finally {
      Deno.env.delete("TELA_TOKEN");
    }
    assert.equal(await resolveClientToken(undefined, "ws://other:1"), undefined);
  });
});

Deno.test("a malformed credentials file gives an error naming the file", async () => {
  await withHome(async () => {
    await Deno.mkdir(`${Deno.env.get("HOME")}/.tela`, { recursive: true });
    await Deno.writeTextFile(userCredentialsPath(), "hubs: [1, 2]\n");
    await assert.rejects(loadCredentials(userCredentialsPath()), /credentials\.yaml.*hubs/);
  });
});
