// Schema validation (Ajv, JSON Schema 2020-12) turned into key-path problems with fixes.
import type { ErrorObject } from "ajv";
import schema from "../../schema/config.schema.json" with { type: "json" };
import { validate as precompiledValidate } from "../../generated/validate.ts";
import { OPTIONS, SECTIONS, type OptionInfo } from "../../generated/options.ts";
import { closest } from "./didyoumean.ts";
import { pointerToPath, getPath } from "./paths.ts";
import type { ConfigProblem } from "./problems.ts";

export { schema };

// Ajv 2020 (strict, allErrors, useDefaults, x- keywords registered), compiled ahead of time by
// scripts/codegen.ts into generated/validate.ts, so start-up pays no schema compilation.
type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
const validator = (): Validator => precompiledValidate as Validator;

/** The option a concrete path refers to (map keys match "*"), or undefined. */
export function findOption(path: string): OptionInfo | undefined {
  const parts = path.split(".");
  return OPTIONS.find((o) => {
    const pattern = o.path.split(".");
    return pattern.length === parts.length && pattern.every((p, i) => p === "*" || p === parts[i]);
  });
}

export function isSection(path: string): boolean {
  return SECTIONS.some((s) => s.path === path);
}

/** Names allowed directly under a section path ("" = top level). */
export function childKeys(sectionPath: string): string[] {
  const depth = sectionPath ? sectionPath.split(".").length : 0;
  const keys = new Set<string>();
  const parts = sectionPath ? sectionPath.split(".") : [];
  for (const p of [...OPTIONS.map((o) => o.path), ...SECTIONS.map((s) => s.path)]) {
    const segs = p.split(".");
    if (segs.length <= depth) continue;
    if (parts.every((part, i) => segs[i] === "*" || segs[i] === part)) keys.add(segs[depth]);
  }
  keys.delete("*");
  return [...keys].sort();
}

// Names other trainers use for our options (HF Trainer, ms-swift): not typos, so edit distance misses them.
const KNOWN_ALIASES: Record<string, string> = {
  learning_rate: "training.lr",
  num_train_epochs: "training.epochs",
  num_epochs: "training.epochs",
  batch_size: "training.per_device_batch_size",
  per_device_train_batch_size: "training.per_device_batch_size",
  warmup: "training.warmup_steps",
  label_smoothing: "loss.smoothing",
  label_smoothing_factor: "loss.smoothing",
  model_name: "model.pretrained_name",
  model_name_or_path: "model.pretrained_name",
  bf16: "training.precision",
  fp16: "training.precision",
  zero: "deepspeed.zero_stage",
  stage: "deepspeed.zero_stage",
  num_classes: "model.num_labels",
};

/** Did-you-mean for an unknown key path: a sibling first, else the same key elsewhere. */
export function suggestPath(path: string): string | null {
  const parts = path.split(".");
  const key = parts[parts.length - 1];
  const parent = parts.slice(0, -1).join(".");
  const siblings = childKeys(parent);
  const sibling = closest(key, siblings);
  if (sibling) return parent ? `${parent}.${sibling}` : sibling;
  const prefixed = key.length >= 4 ? siblings.filter((s) => s.startsWith(key) || key.startsWith(s)) : [];
  if (prefixed.length === 1) return parent ? `${parent}.${prefixed[0]}` : prefixed[0];
  if (KNOWN_ALIASES[key]) return KNOWN_ALIASES[key];
  const everywhere = [...OPTIONS.map((o) => o.path), ...SECTIONS.map((s) => s.path)].filter((p) => !p.includes("*"));
  const byFullPath = closest(path, everywhere);
  if (byFullPath) return byFullPath;
  const sameLeaf = everywhere.filter((p) => p.split(".").pop() === key);
  if (sameLeaf.length === 1) return sameLeaf[0];
  const leafMatch = closest(key, everywhere.map((p) => p.split(".").pop()!), 1);
  return leafMatch ? (everywhere.find((p) => p.endsWith(`.${leafMatch}`) || p === leafMatch) ?? null) : null;
}

export function describeBounds(o: OptionInfo): string {
  const parts: string[] = [];
  if (o.minimum !== undefined) parts.push(`>= ${o.minimum}`);
  if (o.exclusiveMinimum !== undefined) parts.push(`> ${o.exclusiveMinimum}`);
  if (o.maximum !== undefined) parts.push(`<= ${o.maximum}`);
  if (o.exclusiveMaximum !== undefined) parts.push(`< ${o.exclusiveMaximum}`);
  return parts.join(" and ");
}

function shown(v: unknown): string {
  if (v === null) return "null (empty value)";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "object") return Array.isArray(v) ? "a list" : "a mapping";
  return String(v);
}

function typeWords(types: string[]): string {
  const words: Record<string, string> = {
    integer: "an integer",
    number: "a number",
    string: "a string",
    boolean: "true or false",
    null: "null",
    object: "a mapping",
    array: "a list",
  };
  return types.map((t) => words[t] ?? t).join(" or ");
}

function exampleFor(o: OptionInfo | undefined): string {
  if (!o) return "";
  if (o.default !== undefined) return ` (default: ${JSON.stringify(o.default)})`;
  return "";
}

function problemFromAjv(err: ErrorObject, data: unknown): ConfigProblem | null {
  const base = pointerToPath(err.instancePath);
  const opt = findOption(base);
  const value = getPath(data, base);
  const shownPath = base || "(top level)";
  switch (err.keyword) {
    case "additionalProperties": {
      const key = (err.params as { additionalProperty: string }).additionalProperty;
      const path = base ? `${base}.${key}` : key;
      const suggestion = suggestPath(path);
      const allowed = childKeys(base);
      return {
        path,
        message: `unknown key "${key}"${suggestion ? ` — did you mean ${suggestion}?` : ""}`,
        fix: suggestion
          ? `rename it to ${suggestion.split(".").pop()}${suggestion.split(".").slice(0, -1).join(".") !== base ? ` under ${suggestion.split(".").slice(0, -1).join(".") || "the top level"}` : ""}`
          : `remove it; keys allowed under ${base || "the top level"}: ${allowed.join(", ")}`,
      };
    }
    case "type": {
      const expected = String((err.params as { type: string }).type).split(",");
      if (isSection(base)) {
        return { path: shownPath, message: `must be a mapping of options, got ${shown(value)}`, fix: `indent its options under "${base.split(".").pop()}:" (see --help for them)` };
      }
      return {
        path: shownPath,
        message: `expected ${typeWords(expected)}, got ${shown(value)}`,
        fix: `write ${typeWords(expected)}${exampleFor(opt)}${typeof value === "string" && expected.includes("number") ? "; numbers are written without quotes, e.g. 1e-5" : ""}`,
      };
    }
    case "minimum":
    case "exclusiveMinimum":
    case "maximum":
    case "exclusiveMaximum": {
      const { comparison, limit } = err.params as { comparison: string; limit: number };
      const bounds = opt ? describeBounds(opt) : `${comparison} ${limit}`;
      return { path: shownPath, message: `must be ${comparison} ${limit}, got ${shown(value)}`, fix: `use a value ${bounds}${exampleFor(opt)}` };
    }
    case "enum": {
      const allowed = (err.params as { allowedValues: unknown[] }).allowedValues;
      const suggestion = typeof value === "string" ? closest(value, allowed.map(String)) : null;
      return {
        path: shownPath,
        message: `${shown(value)} is not one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}${suggestion ? ` — did you mean "${suggestion}"?` : ""}`,
        fix: `use one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}${exampleFor(opt)}`,
      };
    }
    case "required": {
      const missing = (err.params as { missingProperty: string }).missingProperty;
      const path = base ? `${base}.${missing}` : missing;
      const mo = findOption(path);
      return { path, message: `is required but missing`, fix: `add "${missing}:" (${mo?.description ?? "see --help"})` };
    }
    case "minLength":
      return { path: shownPath, message: `must not be empty`, fix: `set it${exampleFor(opt)}; ${opt?.description ?? ""}`.trim() };
    case "pattern":
      return { path: shownPath, message: `${shown(value)} has the wrong form`, fix: opt?.description ?? `match ${(err.params as { pattern: string }).pattern}` };
    default:
      return { path: shownPath, message: err.message ?? err.keyword, fix: opt?.description ?? "see --help" };
  }
}

/** Validates in place (fills schema defaults) and returns the problems (empty when valid). */
export function validateConfig(data: unknown): ConfigProblem[] {
  const validate = validator();
  if (validate(data)) return [];
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const err of validate.errors ?? []) {
    const p = problemFromAjv(err, data);
    if (!p) continue;
    const key = `${p.path}|${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(p);
  }
  return problems;
}
