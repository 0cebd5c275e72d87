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
   */
  constructor(readonly role: string, readonly path: string) {
    super(`no ${role} token found`);
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
