/**
 * The release-channel actions of agent management (spec hub-http-api.md §8.3, agent-and-client.md
 * §8.7): `update`, `update-status`, `update-channel`, `channel-sources-list`,
 * `channel-sources-set`, `channel-sources-remove`. Their handlers belong to lib/update
 * (decisions21.md, contract 1: the update helper replaces the entries of {@link UPDATE_ACTIONS}
 * with its own); until then each one answers `ok:false` with a message that says so.
 *
 * @module
 */
import { ManagementError, type ManagementHandler } from "./management.ts";

/** The release-channel action names of the spec's catalogue (§8.3), in its order. */
export const UPDATE_ACTION_NAMES = [
  "update",
  "update-status",
  "update-channel",
  "channel-sources-list",
  "channel-sources-set",
  "channel-sources-remove",
] as const;

/**
 * A handler for an action this build of telad cannot perform yet: `ok:false`,
 * `<action> is not available in this build of telad (self-update and release channels are
 * not implemented yet); update telad on the machine itself`.
 */
function notAvailable(action: string): ManagementHandler {
  return () =>
    Promise.reject(
      new ManagementError(
        `${action} is not available in this build of telad (self-update and release ` +
          `channels are not implemented yet); update or reconfigure telad on the machine itself`,
      ),
    );
}

/** Handlers of the release-channel actions, by name (lib/update replaces them). */
export const UPDATE_ACTIONS: Record<string, ManagementHandler> = Object.fromEntries(
  UPDATE_ACTION_NAMES.map((a) => [a, notAvailable(a)]),
);
