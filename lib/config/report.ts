// The override report printed before every launch (and saved beside the resolved config).
import type { OverrideRow } from "./overrides.ts";

const show = (v: unknown) => (v === undefined ? "(unset)" : JSON.stringify(v));
const SOURCE_WORDS = { default: "default", file: "file", cli: "--set" } as const;

export function formatOverrideReport(rows: readonly OverrideRow[], warnings: readonly string[] = []): string {
  const lines: string[] = [];
  if (rows.length === 0) {
    lines.push("Overrides: none (no value was forced or ignored)");
  } else {
    lines.push(`Overrides (${rows.length}): forced or ignored values, highest priority of all`);
    const table = rows.map((r) => [r.path, `${show(r.requested)} (${SOURCE_WORDS[r.source]})`, r.kind === "ignored" ? "ignored" : show(r.value), r.reason]);
    const header = ["option", "asked (from)", "used", "why"];
    const widths = [0, 1, 2].map((i) => Math.max(header[i].length, ...table.map((row) => row[i].length)));
    const fmt = (row: string[]) => `  ${row[0].padEnd(widths[0])}  ${row[1].padEnd(widths[1])}  ${row[2].padEnd(widths[2])}  ${row[3]}`;
    lines.push(fmt(header));
    for (const row of table) lines.push(fmt(row));
  }
  for (const w of warnings) lines.push(`WARNING: ${w}`);
  return lines.join("\n") + "\n";
}
