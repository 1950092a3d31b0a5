// --set a.b=value: typed by the schema, applied on top of the YAML data.
import { OPTIONS } from "../../generated/options.ts";
import { closest } from "./didyoumean.ts";
import { findOption, isSection, childKeys, suggestPath } from "./schema.ts";
import { setPath, type Obj } from "./paths.ts";
import type { ConfigProblem } from "./problems.ts";

export interface ParsedSet {
  path: string;
  value: unknown;
  raw: string;
}

const INTEGER = /^[-+]?\d+$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** Converts the text after "=" to the option's type; returns an error text when it cannot. */
export function coerceSetValue(text: string, types: readonly string[]): { value: unknown } | { error: string } {
  const t = text.trim();
  if (types.includes("null") && (t === "null" || t === "~")) return { value: null };
  if (types.includes("boolean") && (t === "true" || t === "false")) return { value: t === "true" };
  if (types.includes("integer") && INTEGER.test(t)) return { value: Number(t) };
  if (types.includes("number") && NUMBER.test(t)) return { value: Number(t) };
  if ((types.includes("object") || types.includes("array")) && /^[[{]/.test(t)) {
    try {
      return { value: JSON.parse(t) };
    } catch (err) {
      return { error: `is not valid JSON (${(err as Error).message})` };
    }
  }
  if (types.includes("string")) return { value: text };
  return { error: `expected ${typeWords(types)}, got ${JSON.stringify(text)}` };
}

function typeWords(types: readonly string[]): string {
  const words: Record<string, string> = { integer: "an integer", number: "a number", boolean: "true or false", null: "null", string: "a string", object: "a JSON object", array: "a JSON list" };
  return types.map((x) => words[x] ?? x).join(" or ");
}

/** Parses and types every --set; problems name the flag and the path. */
export function parseSets(sets: readonly string[]): { parsed: ParsedSet[]; problems: ConfigProblem[] } {
  const parsed: ParsedSet[] = [];
  const problems: ConfigProblem[] = [];
  for (const raw of sets) {
    const eq = raw.indexOf("=");
    const path = (eq < 0 ? raw : raw.slice(0, eq)).trim();
    const where = `--set ${raw}`;
    if (eq < 0 || !path) {
      problems.push({ path: "--set", message: `"${raw}" is not of the form a.b=value`, fix: `write it as --set training.lr=1e-5 (a dotted option path, "=", the value)` });
      continue;
    }
    const text = raw.slice(eq + 1);
    const option = findOption(path);
    if (!option) {
      if (isSection(path)) {
        problems.push({ path, message: `(${where}) is a section, not an option`, fix: `set one of its options: ${childKeys(path).map((k) => `${path}.${k}`).join(", ")}` });
        continue;
      }
      const suggestion = suggestPath(path) ?? closest(path, OPTIONS.map((o) => o.path).filter((p) => !p.includes("*")));
      problems.push({
        path,
        message: `(${where}) unknown option${suggestion ? ` — did you mean ${suggestion}?` : ""}`,
        fix: suggestion ? `use --set ${suggestion}=${text}` : `see bun run tasks/train.ts --help for every option path`,
      });
      continue;
    }
    const coerced = coerceSetValue(text, option.type);
    if ("error" in coerced) {
      problems.push({ path, message: `(${where}) ${coerced.error}`, fix: `give ${typeWords(option.type)}${option.default !== undefined ? `, e.g. --set ${path}=${JSON.stringify(option.default)}` : ""}` });
      continue;
    }
    if (option.enum && !option.enum.includes(coerced.value)) {
      const allowed = option.enum.map((v) => JSON.stringify(v)).join(", ");
      const suggestion = typeof coerced.value === "string" ? closest(coerced.value, option.enum.map(String)) : null;
      problems.push({ path, message: `(${where}) ${JSON.stringify(coerced.value)} is not one of ${allowed}${suggestion ? ` — did you mean "${suggestion}"?` : ""}`, fix: `use one of ${allowed}` });
      continue;
    }
    parsed.push({ path, value: coerced.value, raw });
  }
  return { parsed, problems };
}

export function applySets(data: Obj, sets: readonly ParsedSet[]): void {
  for (const s of sets) setPath(data, s.path, s.value);
}
