import { parseArgs } from "node:util";
import { UserError } from "./errors.ts";

export interface OptionSpec {
  type: "string" | "boolean";
  description: string;
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[];
  /** Other spellings accepted for this flag, e.g. ["checkpoint_path"] for --checkpoint. */
  alias?: string[];
  /** Placeholder shown in --help, e.g. "PATH". */
  valueName?: string;
}

export interface TaskArgsSpec {
  name: string; // e.g. "train" -> "bun run tasks/train.ts"
  summary: string;
  usage?: string[];
  options: Record<string, OptionSpec>;
  examples?: string[];
  /** Extra help text appended after the options (e.g. config options from the schema). */
  extraHelp?: string;
  allowPositionals?: boolean;
  argv?: string[];
  stdout?: { write(s: string): unknown };
  exit?: (code: number) => never;
}

export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

export function renderHelp(spec: TaskArgsSpec): string {
  const lines: string[] = [];
  const cmd = `bun run tasks/${spec.name}.ts`;
  lines.push(`${cmd} — ${spec.summary}`, "");
  lines.push("Usage:");
  for (const u of spec.usage ?? ["[options]"]) lines.push(`  ${cmd} ${u}`);
  lines.push("", "Options:");
  const rows: [string, string][] = [];
  for (const [flag, o] of Object.entries({ ...spec.options, help: helpOption })) {
    const names = [o.short ? `-${o.short}, ` : "", `--${flag}`];
    const value = o.type === "string" ? ` ${o.valueName ?? flag.toUpperCase().replace(/-/g, "_")}` : "";
    let text = o.description;
    if (o.multiple) text += " (repeatable)";
    if (o.default !== undefined && o.default !== false) text += ` [default: ${JSON.stringify(o.default)}]`;
    if (o.alias?.length) text += ` (also: ${o.alias.map((a) => `--${a}`).join(", ")})`;
    rows.push([names.join("") + value, text]);
  }
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  for (const [left, text] of rows) {
    lines.push(left.length + 2 > width ? `  ${left}\n  ${" ".repeat(width)}${text}` : `  ${left.padEnd(width)}${text}`);
  }
  if (spec.examples?.length) {
    lines.push("", "Examples:");
    for (const e of spec.examples) lines.push(`  ${e}`);
  }
  if (spec.extraHelp) lines.push("", spec.extraHelp.trimEnd());
  return lines.join("\n") + "\n";
}

const helpOption: OptionSpec = { type: "boolean", short: "h", description: "Show this help and exit." };

/**
 * Strict argument parsing for a task. --help prints the generated help and exits 0;
 * an unknown flag or a missing value throws a UserError (exit code 2) that names it.
 */
export function parseTaskArgs(spec: TaskArgsSpec): { values: ParsedValues; positionals: string[] } {
  const argv = spec.argv ?? process.argv.slice(2);
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  const aliasOf: Record<string, string> = {};
  for (const [flag, o] of Object.entries({ ...spec.options, help: helpOption })) {
    options[flag] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
    for (const a of o.alias ?? []) {
      options[a] = { type: o.type, ...(o.multiple ? { multiple: true } : {}) };
      aliasOf[a] = flag;
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: spec.allowPositionals ?? false });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new UserError(`${msg.replace(/\. To specify a positional argument.*$/s, "")}`, {
      hint: `run 'bun run tasks/${spec.name}.ts --help' for the options`,
    });
  }
  const values: ParsedValues = {};
  for (const [k, v] of Object.entries(parsed.values)) {
    const target = aliasOf[k] ?? k;
    const prev = values[target];
    values[target] = (Array.isArray(prev) && Array.isArray(v) ? [...prev, ...v] : v) as ParsedValues[string];
  }
  if (values.help) {
    (spec.stdout ?? process.stdout).write(renderHelp(spec));
    (spec.exit ?? ((c: number) => process.exit(c)))(0);
  }
  for (const [flag, o] of Object.entries(spec.options)) {
    if (values[flag] === undefined && o.default !== undefined) values[flag] = o.default;
  }
  return { values, positionals: parsed.positionals };
}
