/**
 * The XML WebDAV needs (RFC 4918 §14-§15 bodies): a strict, namespace-aware parse of request
 * bodies into a small tree (the `saxes` parser: a non-well-formed body or a bad namespace
 * declaration is an error, which RFC 4918 §8.2 answers with 400), and serialisation back,
 * including dead property values with their own namespaces (RFC 4918 §4.3).
 * @module
 */
import { SaxesParser } from "saxes";

/** The DAV: namespace (RFC 4918 §21). */
export const DAV_NS = "DAV:";

/** An element: expanded name, attributes by expanded name, children in document order. */
export interface XmlElement {
  /** Namespace URI, `""` for no namespace. */
  ns: string;
  /** Local name. */
  local: string;
  /** Attributes other than namespace declarations: `{ns, local, value}`. */
  attrs: { ns: string; local: string; value: string }[];
  /** Child elements and text (entities decoded). */
  children: XmlNode[];
}

/** A child of an element. */
export type XmlNode = XmlElement | string;

/** The request body is not well-formed XML (RFC 4918 §8.2: 400 Bad Request). */
export class XmlError extends Error {
  override name = "XmlError";
}

/**
 * Parses `text` into its root element.
 * @throws XmlError when the text is not well-formed, namespace-valid XML 1.0.
 */
export function parseXml(text: string): XmlElement {
  const parser = new SaxesParser({ xmlns: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  parser.on("opentag", (tag) => {
    const attrs = [];
    for (const a of Object.values(tag.attributes)) {
      if (typeof a === "string") continue;
      if (a.prefix === "xmlns" || (a.prefix === "" && a.local === "xmlns")) continue;
      attrs.push({ ns: a.uri, local: a.local, value: a.value });
    }
    const el: XmlElement = { ns: tag.uri ?? "", local: tag.local ?? tag.name, attrs, children: [] };
    if (stack.length) stack[stack.length - 1].children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on("closetag", () => void stack.pop());
  parser.on("text", (t) => {
    if (stack.length) stack[stack.length - 1].children.push(t);
  });
  parser.on("cdata", (t) => {
    if (stack.length) stack[stack.length - 1].children.push(t);
  });
  try {
    parser.write(text).close();
  } catch (e) {
    throw new XmlError(`request body is not well-formed XML: ${(e as Error).message}`);
  }
  if (!root) throw new XmlError("request body has no root element");
  return root;
}

/** The child elements of `el` (text dropped). */
export function elements(el: XmlElement): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== "string");
}

/** The first child element of `el` named `{ns}local`, if any. */
export function child(el: XmlElement, ns: string, local: string): XmlElement | undefined {
  return elements(el).find((c) => c.ns === ns && c.local === local);
}

/** Whether `el` is `{ns}local`. */
export function is(el: XmlElement, ns: string, local: string): boolean {
  return el.ns === ns && el.local === local;
}

/** The concatenated text of `el` and its descendants. */
export function textOf(el: XmlElement): string {
  return el.children.map((c) => typeof c === "string" ? c : textOf(c)).join("");
}

/** Escapes text for element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  );
}

/**
 * Serialises `el` as a self-contained fragment: every element declares its namespace as the
 * default namespace where it differs from its parent's (`xmlns=""` for none), and attribute
 * namespaces get `a<n>` prefixes, so the fragment can sit inside any document.
 * @param el the element.
 * @param parentNs the default namespace in force where the fragment is placed.
 */
export function serialize(el: XmlElement, parentNs = "\u0000"): string {
  let out = `<${el.local}`;
  if (el.ns !== parentNs) out += ` xmlns="${escapeXml(el.ns)}"`;
  let n = 0;
  for (const a of el.attrs) {
    if (a.ns) {
      const p = `a${n++}`;
      out += ` xmlns:${p}="${escapeXml(a.ns)}" ${p}:${a.local}="${escapeXml(a.value)}"`;
    } else out += ` ${a.local}="${escapeXml(a.value)}"`;
  }
  if (!el.children.length) return out + "/>";
  out += ">";
  for (const c of el.children) out += typeof c === "string" ? escapeXml(c) : serialize(c, el.ns);
  return out + `</${el.local}>`;
}
