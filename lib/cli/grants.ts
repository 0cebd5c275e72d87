/**
 * The MACHINES cell `tela admin access` and `telahubd user list` both print for an identity
 * (book, Appendix C: `* (all permissions)` for an owner or admin, else `*: connect | barn:
 * manage`). Kept here, below both programs, so the two tables cannot drift apart.
 * @module
 */

/** One machine line of an identity's grants, as `GET /api/admin/access` lists it. */
export interface GrantLine {
  /** Machine name or `*`. */
  machineId: string;
  permissions: string[];
  /** Per-service connect filter; absent = all services. */
  services?: string[];
}

/**
 * The MACHINES cell: `* (all permissions)` for an owner or admin; else each machine with
 * permissions as `name: perm,perm` (`*` first, then by name; ` (services a,b)` after a
 * filtered connect grant), joined by ` | `; `-` when there is none.
 * @param role the identity's listed role (`owner`, `admin`, `user`, `viewer`).
 * @param machines its grants (`undefined` = none).
 */
export function grantsCell(role: string, machines: readonly GrantLine[] | undefined): string {
  if (role === "owner" || role === "admin") return "* (all permissions)";
  const ms = (machines ?? []).filter((m) => m.permissions?.length).sort((a, b) =>
    a.machineId === "*" ? -1 : b.machineId === "*" ? 1 : a.machineId.localeCompare(b.machineId)
  );
  if (ms.length === 0) return "-";
  return ms.map((m) => {
    const svc = m.services?.length ? ` (services ${m.services.join(",")})` : "";
    return `${m.machineId}: ${m.permissions.join(",")}${svc}`;
  }).join(" | ");
}
