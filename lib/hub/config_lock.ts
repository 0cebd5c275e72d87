/**
 * The advisory lock that serialises every read-modify-write of `telahubd.yaml` between the
 * running hub and `telahubd user ...` (issue 10 decision 8; fix round item 1).
 *
 * Both writers re-read the file, merge or replay their change and rename the new file over
 * it while they hold an exclusive lock on a sibling file, `<config>.lock` (created 0600,
 * left in place; it holds no data). The hub's reload of an outside edit takes a shared lock.
 * Without it each side's check-then-write raced the other's (a reviewer lost identities of
 * both sides with `telahubd user add` run beside a stream of `POST /api/admin/tokens`).
 *
 * The lock is `flock(2)`-style (`Deno.FsFile.lock`): it is held per open file, so two opens
 * in one process exclude each other as two processes do, and the system drops it when the
 * holder dies. It is advisory: a hand edit with a text editor does not take it (the hub's
 * watch and its compare-before-write handle those).
 *
 * @module
 */

/**
 * The lock file of a config file.
 * @param configPath the config file, e.g. `/etc/tela/telahubd.yaml`.
 * @returns `<configPath>.lock`.
 */
export function lockPathOf(configPath: string): string {
  return `${configPath}.lock`;
}

/**
 * Runs `fn` while holding the lock of `configPath`.
 * @param configPath the config file whose lock is taken (its folder must exist for an
 *   exclusive lock; it is created 0700 when missing).
 * @param exclusive true for a read-modify-write, false for a read (shared).
 * @param fn the work; its result is returned, its error rethrown; the lock is released
 *   either way.
 * @throws the error of opening the lock file (e.g. a read-only folder) for an exclusive
 *   lock; a shared lock that cannot be taken runs `fn` without one (reads of an atomically
 *   replaced file are consistent anyway).
 */
export async function withConfigLock<T>(
  configPath: string,
  exclusive: boolean,
  fn: () => Promise<T> | T,
): Promise<T> {
  const path = lockPathOf(configPath);
  let file: Deno.FsFile | undefined;
  try {
    if (exclusive) {
      const dir = path.slice(0, Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")));
      if (dir) await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    }
    file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  } catch (err) {
    if (exclusive) throw err;
  }
  if (!file) return await fn();
  try {
    await file.lock(exclusive);
    return await fn();
  } finally {
    try {
      await file.unlock();
    } catch { /* closing releases it too */ }
    file.close();
  }
}
