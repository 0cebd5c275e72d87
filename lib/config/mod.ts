/** Reading and atomically writing Tela's YAML files. @module */
export * from "./files.ts";
