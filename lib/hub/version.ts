/**
 * The hub's version: the one build version of all three programs (lib/host), and the
 * platform in Go's names for `/api/status`.
 * @module
 */
import { goPlatform as hostGoPlatform, TELA_VERSION } from "../host/version.ts";

/** Version string reported by `telahubd version`, in `/api/status` and in the console. */
export const HUB_VERSION = TELA_VERSION;

/** `linux`/`darwin`/`windows` and `amd64`/`arm64`, as Go reports them (spec §4.1). */
export const goPlatform = hostGoPlatform;
