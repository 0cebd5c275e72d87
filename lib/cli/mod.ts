/** Command-line helpers shared by `tela`, `telad` and `telahubd`. @module */
export * from "./flags.ts";
