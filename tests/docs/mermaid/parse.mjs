// Parse mermaid diagrams with mermaid itself, in Node, on a jsdom window (no browser).
//
// Input (stdin): a JSON list of {"where": "page.qmd:12", "code": "flowchart TD ..."}.
// Output (stdout): a JSON list of {"where": ..., "ok": true|false, "error": "..."}.
// mermaid.parse() runs the diagram's grammar and its semantic checks; it throws on an
// unknown diagram type or a syntax error, which is what this check is for.
import { JSDOM } from "jsdom";

// Keep stdout for the JSON answer: mermaid's own logging goes to stderr.
for (const level of ["log", "info", "debug", "warn", "error", "trace"]) {
  console[level] = (...args) => process.stderr.write(args.join(" ") + "\n");
}

const dom = new JSDOM("<!DOCTYPE html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const name of ["Element", "HTMLElement", "SVGElement", "Node", "DOMParser", "navigator"]) {
  if (!(name in globalThis)) globalThis[name] = dom.window[name];
}

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const diagrams = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const results = [];
for (const { where, code } of diagrams) {
  try {
    await mermaid.parse(code);
    results.push({ where, ok: true, error: null });
  } catch (error) {
    results.push({ where, ok: false, error: String(error?.message ?? error) });
  }
}
process.stdout.write(JSON.stringify(results));
