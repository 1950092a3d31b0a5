// The config option listing for --help, generated from the schema (generated/options.ts).
import { OPTIONS, SECTIONS } from "../../generated/options.ts";
import { describeBounds } from "./schema.ts";

export function renderConfigOptionsHelp(): string {
  const lines = ["Config options (YAML keys; any of them can be given as --set PATH=VALUE):"];
  const sectionOf = (path: string) => SECTIONS.filter((s) => path.startsWith(`${s.path}.`)).sort((a, b) => b.path.length - a.path.length)[0]?.path ?? "";
  let current = "";
  for (const o of OPTIONS) {
    const section = sectionOf(o.path);
    if (section !== current) {
      current = section;
      const desc = SECTIONS.find((s) => s.path === section)?.description ?? "";
      lines.push("", `  ${section}: ${desc}`);
    }
    const type = o.enum ? o.enum.map((v) => JSON.stringify(v)).join("|") : o.type.join("|");
    const bounds = describeBounds(o);
    const facts = [type, bounds, o.default !== undefined ? `default ${JSON.stringify(o.default)}` : o.required ? "required" : ""].filter(Boolean).join(", ");
    lines.push(`    ${o.path.replace(/\*/g, "<name>")}  (${facts})`);
    lines.push(`        ${o.description}`);
  }
  return lines.join("\n") + "\n";
}
