// Forced and ignored values: the override table (generated from the schema) applied last.
import { OVERRIDE_RULES, type OverrideRule } from "../../generated/overrides.ts";
import { getPath, setPath, type Obj } from "./paths.ts";

export type ValueSource = "default" | "file" | "cli";

export interface OverrideRow {
  path: string;
  /** the value before forcing (from the schema default, the file or --set) */
  requested: unknown;
  /** the value used (for "ignored": unchanged, but nothing reads it) */
  value: unknown;
  source: ValueSource;
  reason: string;
  kind: "forced" | "ignored";
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const ruleApplies = (rule: OverrideRule, config: Obj) => Object.entries(rule.when).every(([p, v]) => deepEqual(getPath(config, p), v));

/**
 * Applies forced rules (highest priority wins per path) and marks ignored paths.
 * Conditions are read on the config as it stands, repeated until nothing changes, so a
 * forced value can trigger another rule. Mutates config; returns one row per affected path.
 */
export function applyOverrides(params: {
  config: Obj;
  sourceOf: (path: string) => ValueSource;
  describeSource?: (path: string) => string;
  rules?: readonly OverrideRule[];
}): { rows: OverrideRow[]; warnings: string[] } {
  const { config, sourceOf } = params;
  const rules = params.rules ?? OVERRIDE_RULES;
  const requested = new Map<string, unknown>();
  const winners = new Map<string, OverrideRule>();
  for (let round = 0; round < 10; round++) {
    let changed = false;
    const best = new Map<string, OverrideRule>();
    for (const rule of rules) {
      if (rule.kind !== "forced" || !ruleApplies(rule, config)) continue;
      const current = best.get(rule.path);
      if (!current || rule.priority > current.priority) best.set(rule.path, rule);
    }
    for (const [path, rule] of best) {
      if (!requested.has(path)) requested.set(path, getPath(config, path));
      winners.set(path, rule);
      if (!deepEqual(getPath(config, path), rule.value)) {
        setPath(config, path, structuredClone(rule.value));
        changed = true;
      }
    }
    if (!changed) break;
  }

  const rows: OverrideRow[] = [];
  const warnings: string[] = [];
  const describe = params.describeSource ?? ((p: string) => sourceOf(p));
  for (const [path, rule] of winners) {
    const asked = requested.get(path);
    const source = sourceOf(path);
    rows.push({ path, requested: asked, value: rule.value, source, reason: rule.reason, kind: "forced" });
    if (source !== "default" && !deepEqual(asked, rule.value)) {
      warnings.push(`${path}: you set ${JSON.stringify(asked)} (${describe(path)}) but ${JSON.stringify(rule.value)} is used — ${rule.reason}`);
    }
  }
  const ignoredDone = new Set<string>();
  for (const rule of rules) {
    if (rule.kind !== "ignored" || ignoredDone.has(rule.path) || !ruleApplies(rule, config)) continue;
    ignoredDone.add(rule.path);
    const value = getPath(config, rule.path);
    const source = sourceOf(rule.path);
    rows.push({ path: rule.path, requested: value, value, source, reason: rule.reason, kind: "ignored" });
    if (source !== "default") warnings.push(`${rule.path}: you set ${JSON.stringify(value)} (${describe(rule.path)}) but it is ignored — ${rule.reason}`);
  }
  return { rows, warnings };
}
