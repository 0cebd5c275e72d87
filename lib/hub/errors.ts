/**
 * The hub's named errors. Each message names the thing, the cause and the fix.
 * @module
 */

/**
 * An agent's `register` message broke a limit of the hub (a field's type, length or
 * shape). The hub answers with an `error` message carrying {@link message} and closes that
 * socket only.
 */
export class RegistrationError extends Error {
  override name = "RegistrationError";
  /**
   * @param field the offending field, as named in the `register` message.
   * @param problem what is wrong with it.
   */
  constructor(readonly field: string, problem: string) {
    super(`register: ${field} ${problem}`);
  }
}

/** A config file holds no token with the role asked for (`telahubd user show-owner`). */
export class TokenNotFoundError extends Error {
  override name = "TokenNotFoundError";
  /**
   * @param role `owner` or `viewer`.
   * @param path the config file that was read.
   * @param exists whether that file exists (else the message says how to get one).
   */
  constructor(readonly role: string, readonly path: string, exists = true) {
    super(
      `no ${role} token found in ${path}` + (exists ? "" : " (no such file: start the hub once " +
        "to create it, or pass the hub's config with -config)"),
    );
  }
}

/**
 * A registration would add a machine entry to a registry that holds its maximum and has no
 * offline entry to forget. The hub answers that agent with an `error` message.
 */
export class RegistryFullError extends Error {
  override name = "RegistryFullError";
  /** @param max the registry's limit on machine entries. */
  constructor(readonly max: number) {
    super(
      `register: the hub holds its maximum of ${max} machines, all connected; ` +
        "raise TELAHUBD_MAX_MACHINES or retire machines",
    );
  }
}

/**
 * The hub cannot listen on its HTTP + WebSocket address. Thrown by `startHub` before it
 * writes its config or prints the first-start banner, so a failed start changes nothing.
 */
export class HubListenError extends Error {
  override name = "HubListenError";
  /**
   * @param address `host:port` the hub tried to listen on.
   * @param cause the `Deno.listen` error.
   */
  constructor(readonly address: string, cause: unknown) {
    super(`cannot listen on ${address}: ${listenProblem(cause)}`, { cause });
  }
}

function listenProblem(err: unknown): string {
  if (err instanceof Deno.errors.AddrInUse) {
    return "the address is in use (another telahubd or another program holds it); stop that " +
      "program or choose another port with -port or TELAHUBD_PORT";
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); run it " +
      "with those rights or choose a port from 1024 up with -port";
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return "no interface of this machine has that address; fix -listen or TELAHUBD_LISTEN";
  }
  return err instanceof Error ? err.message : String(err);
}
