/**
 * A `/api/status` poller in its own process, so its work does not share the test's event
 * loop: `deno run -A _status_poller.ts <httpUrl> <token> <concurrency> <maxPolls>`. Prints
 * `polling` once 20 requests completed, and `{"polls","notModified","errors"}` when stdin
 * closes or `maxPolls` is reached. Half the requests revalidate with `If-None-Match`.
 * @module
 */
const [http, token, concurrency, maxPolls] = Deno.args;
let done = false;
let polls = 0;
let notModified = 0;
let errors = 0;
let announced = false;

async function poll(): Promise<void> {
  let etag = "";
  while (!done && polls < Number(maxPolls)) {
    try {
      const r = await fetch(`${http}/api/status`, {
        headers: { Authorization: `Bearer ${token}`, ...(etag ? { "If-None-Match": etag } : {}) },
      });
      await r.arrayBuffer();
      if (r.status === 304) notModified++;
      else if (r.status !== 200) errors++;
      etag = polls % 2 ? (r.headers.get("etag") ?? "") : "";
    } catch {
      errors++;
    }
    polls++;
    if (!announced && polls >= 20) {
      announced = true;
      console.log("polling");
    }
  }
}

(async () => {
  for await (const _ of Deno.stdin.readable) { /* until EOF */ }
  done = true;
})();
await Promise.all(Array.from({ length: Number(concurrency) }, poll));
console.log(JSON.stringify({ polls, notModified, errors }));
Deno.exit(0);
