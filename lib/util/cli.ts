// Typed command lines. Each task declares its options once (type, parse, default, conflicts,
// help); node:util parseArgs (strict) does the splitting, so flag syntax (--x=v, -c v, --) is the
// platform's, not ours. This layer adds what parseArgs lacks: typed values (integers, numbers with
// bounds), generated --help, conflicts, and one did-you-mean for unknown flags.
import { parseArgs } from "node:util";
import { closest } from "../config/didyoumean.ts";
import { UserError } from "./errors.ts";

interface Common {
  help: string;
  short?: string;
  /** Placeholder in --help, e.g. "PATH". */
  valueName?: string;
  /** Other spellings accepted, e.g. ["checkpoint_path"] for --checkpoint. */
  alias?: readonly string[];
  /** Flags that cannot be given together with this one. */
  conflicts?: readonly string[];
}
export type StringOption = Common & { type: "string"; default?: string; choices?: readonly string[] };
export type StringsOption = Common & { type: "strings" };
export type BooleanOption = Common & { type: "boolean" };
/** A whole number; `min` is inclusive (default 0). */
export type IntOption = Common & { type: "int"; default?: number; min?: number };
/** A finite number; `above`/`below` are exclusive bounds. */
export type NumberOption = Common & { type: "number"; default?: number; above?: number; below?: number };
export type OptionSpec = StringOption | StringsOption | BooleanOption | IntOption | NumberOption;

/** The parsed value of one option: optional unless it has a default (booleans default to false). */
export type ValueOf<O> = O extends { type: "boolean" }
  ? boolean
  : O extends { type: "strings" }
    ? string[]
    : O extends { type: "int" | "number" }
      ? O extends { default: number }
        ? number
        : number | undefined
      : O extends { choices: readonly (infer C)[] }
        ? O extends { default: string }
          ? C
          : C | undefined
        : O extends { default: string }
          ? string
          : string | undefined;

export type Values<S extends Record<string, OptionSpec>> = { [K in keyof S]: ValueOf<S[K]> };

export interface TaskSpec<S extends Record<string, OptionSpec>> {
  name: string; // "train" -> "bun run tasks/train.ts"
  summary: string;
  usage?: string[];
  options: S;
  examples?: string[];
  /** Extra help text after the options (e.g. config options from the schema). */
  extraHelp?: string;
  /** Bare arguments the task accepts (e.g. more image files after --images); refused when absent. */
  positionals?: { valueName: string; help: string };
}

export interface ParseIO {
  argv?: string[];
  stdout?: { write(s: string): unknown };
  exit?: (code: number) => never;
}

const HELP: BooleanOption = { type: "boolean", short: "h", help: "Show this help and exit." };

function helpText(o: OptionSpec): string {
  let text = o.help;
  if (o.type === "strings") text += " (repeatable)";
  if ("default" in o && o.default !== undefined) text += ` [default: ${JSON.stringify(o.default)}]`;
  if (o.alias?.length) text += ` (also: ${o.alias.map((a) => `--${a}`).join(", ")})`;
  return text;
}

export function renderHelp<S extends Record<string, OptionSpec>>(spec: TaskSpec<S>): string {
  const cmd = `bun run tasks/${spec.name}.ts`;
  const lines = [`${cmd} — ${spec.summary}`, "", "Usage:", ...(spec.usage ?? ["[options]"]).map((u) => `  ${cmd} ${u}`), "", "Options:"];
  const rows: [string, string][] = Object.entries({ ...spec.options, help: HELP } as Record<string, OptionSpec>).map(([flag, o]) => {
    const value = o.type === "boolean" ? "" : ` ${o.valueName ?? flag.toUpperCase().replace(/-/g, "_")}`;
    return [`${o.short ? `-${o.short}, ` : ""}--${flag}${value}`, helpText(o)];
  });
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  for (const [left, text] of rows) lines.push(left.length + 2 > width ? `  ${left}\n  ${" ".repeat(width)}${text}` : `  ${left.padEnd(width)}${text}`);
  if (spec.positionals) lines.push(`  ${spec.positionals.valueName.padEnd(width)}${spec.positionals.help}`);
  if (spec.examples?.length) lines.push("", "Examples:", ...spec.examples.map((e) => `  ${e}`));
  if (spec.extraHelp) lines.push("", spec.extraHelp.trimEnd());
  return lines.join("\n") + "\n";
}

/** One option's raw string -> its typed value, or a UserError naming the flag and what it needs. */
export function parseValue(flag: string, o: OptionSpec, raw: string): string | number {
  const bad = (what: string) => new UserError(`--${flag} must be ${what}, got ${JSON.stringify(raw)}`);
  if (o.type === "int") {
    const min = o.min ?? 0;
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < min) throw bad(`an integer >= ${min}`);
    return Number(raw);
  }
  if (o.type === "number") {
    const n = Number(raw);
    const ok = raw.trim() !== "" && Number.isFinite(n) && (o.above === undefined || n > o.above) && (o.below === undefined || n < o.below);
    const bounds =
      o.above !== undefined && o.below !== undefined ? ` between ${o.above} and ${o.below} (exclusive)` : o.above !== undefined ? ` > ${o.above}` : o.below !== undefined ? ` < ${o.below}` : "";
    if (!ok) throw bad(`a number${bounds}`);
    return n;
  }
  if (o.type === "string" && o.choices && !o.choices.includes(raw)) {
    const hint = closest(raw, o.choices);
    throw new UserError(`--${flag} must be one of ${o.choices.join(", ")}, got ${JSON.stringify(raw)}${hint ? ` — did you mean ${hint}?` : ""}`);
  }
  return raw;
}

/** parseArgs' "Unknown option '--x'" plus the closest real flag. */
function unknownFlagMessage(message: string, flags: string[]): string {
  const clean = message.replace(/\. To specify a positional argument.*$/s, "");
  const m = /Unknown option '-{1,2}([^'=]+)'/.exec(clean);
  const hint = m ? closest(m[1]!, flags) : null;
  return hint ? `${clean} — did you mean --${hint}?` : clean;
}

/**
 * Strict parsing for a task: --help prints the generated help and exits 0; an unknown flag, a
 * missing or malformed value, or two conflicting flags throw a UserError (exit 2) that names them.
 */
export function parseTask<const S extends Record<string, OptionSpec>>(spec: TaskSpec<S>, io: ParseIO = {}): Values<S> & { positionals: string[] } {
  const all = { ...spec.options, help: HELP } as Record<string, OptionSpec>;
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  const canonical: Record<string, string> = {};
  for (const [flag, o] of Object.entries(all)) {
    const node = { type: o.type === "boolean" ? ("boolean" as const) : ("string" as const), ...(o.type === "strings" ? { multiple: true } : {}) };
    options[flag] = { ...node, ...(o.short ? { short: o.short } : {}) };
    canonical[flag] = flag;
    for (const a of o.alias ?? []) (options[a] = node), (canonical[a] = flag);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: io.argv ?? process.argv.slice(2), options, strict: true, allowPositionals: spec.positionals !== undefined });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new UserError(unknownFlagMessage(msg, Object.keys(options)), { hint: `run 'bun run tasks/${spec.name}.ts --help' for the options` });
  }
  const given: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed.values)) {
    const flag = canonical[k]!;
    const prev = given[flag];
    given[flag] = Array.isArray(prev) && Array.isArray(v) ? [...prev, ...v] : v;
  }
  if (given.help) {
    (io.stdout ?? process.stdout).write(renderHelp(spec));
    (io.exit ?? ((c: number) => process.exit(c)))(0);
  }
  for (const [flag, o] of Object.entries(spec.options as Record<string, OptionSpec>)) {
    for (const other of o.conflicts ?? []) {
      if (given[flag] !== undefined && given[other] !== undefined && given[flag] !== false && given[other] !== false) {
        throw new UserError(`--${flag} and --${other} do not go together: give one or the other, not both`, { hint: `run 'bun run tasks/${spec.name}.ts --help' for the options` });
      }
    }
  }
  const values: Record<string, unknown> = {};
  for (const [flag, o] of Object.entries(spec.options as Record<string, OptionSpec>)) {
    const v = given[flag];
    if (o.type === "boolean") values[flag] = v === true;
    else if (o.type === "strings") values[flag] = (v as string[] | undefined) ?? [];
    else values[flag] = typeof v === "string" ? parseValue(flag, o, v) : o.default;
  }
  return { ...(values as Values<S>), positionals: parsed.positionals };
}
