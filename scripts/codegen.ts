// schema/config.schema.json -> generated/{config,overrides,options}.ts
//   bun run codegen           write the files
//   bun run codegen --check   exit 1 (writing nothing) when generated/ is stale
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { compile } from "json-schema-to-typescript";
import Ajv2020 from "ajv/dist/2020.js";
import standaloneCode from "ajv/dist/standalone/index.js";
import { dump } from "js-yaml";
import { messagesFiles } from "./codegen_messages.ts";
import { buildPythonConfig, commentLines } from "./codegen_python.ts";

// --root DIR: run against another checkout (the freshness test uses a temporary copy).
const rootFlag = process.argv.indexOf("--root");
const repoRoot = rootFlag > 0 ? process.argv[rootFlag + 1] : join(dirname(new URL(import.meta.url).pathname), "..");
const schemaPath = join(repoRoot, "schema", "config.schema.json");
const generatedDir = join(repoRoot, "generated");
const BANNER = "// generated — do not edit. Source: schema/config.schema.json; regenerate with `bun run codegen`.";

type JsonSchema = Record<string, any>;

export interface OverrideEntry {
  path: string;
  when: Record<string, unknown>;
  value?: unknown;
  priority: number;
  reason: string;
  kind: "forced" | "ignored";
}

export interface OptionEntry {
  path: string; // dotted; "*" stands for a user-chosen map key (datasets.dataset_configs.*.num_classes)
  type: string[];
  enum?: unknown[];
  default?: unknown;
  description: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  pattern?: string;
  required?: boolean;
}

function typesOf(node: JsonSchema): string[] {
  if (Array.isArray(node.type)) return [...node.type];
  if (typeof node.type === "string") return [node.type];
  return [];
}

/** Walk every property; call visit(path, node, parent) for each, depth first in schema order. */
function walk(node: JsonSchema, prefix: string, visit: (path: string, node: JsonSchema, requiredHere: boolean) => void) {
  const required: string[] = node.required ?? [];
  for (const [key, child] of Object.entries<JsonSchema>(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    visit(path, child, required.includes(key));
    if (child.properties) walk(child, path, visit);
    if (child.additionalProperties && typeof child.additionalProperties === "object") {
      const entry = child.additionalProperties as JsonSchema;
      if (entry.properties) walk(entry, `${path}.*`, visit);
    }
  }
}

export function buildOverrideTable(schema: JsonSchema): OverrideEntry[] {
  const table: OverrideEntry[] = [];
  walk(schema, "", (path, node) => {
    for (const rule of node["x-forced"] ?? []) {
      table.push({ path, when: rule.when, value: rule.value, priority: rule.priority ?? 100, reason: rule.reason ?? "", kind: "forced" });
    }
    const ignored = node["x-ignored-when"];
    const ignoredRules = Array.isArray(ignored) ? ignored : ignored ? [{ when: ignored }] : [];
    for (const rule of ignoredRules) {
      const when = rule.when ?? rule;
      const cond = Object.entries(when).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
      table.push({ path, when, priority: rule.priority ?? 100, reason: rule.reason ?? `ignored when ${cond}`, kind: "ignored" });
    }
  });
  // Validate the annotations themselves: a typo here would silently disable a rule.
  const known = new Set(buildOptionTable(schema).map((o) => o.path));
  for (const entry of table) {
    for (const cond of Object.keys(entry.when ?? {})) {
      if (!known.has(cond)) throw new Error(`schema: ${entry.path} x-${entry.kind === "forced" ? "forced" : "ignored-when"} refers to unknown option ${cond}`);
    }
    if (!entry.when || Object.keys(entry.when).length === 0) throw new Error(`schema: ${entry.path}: an override rule needs a non-empty "when"`);
    if (entry.kind === "forced" && !("value" in entry)) throw new Error(`schema: ${entry.path}: x-forced rule needs a "value"`);
  }
  return table;
}

export function buildOptionTable(schema: JsonSchema): OptionEntry[] {
  const options: OptionEntry[] = [];
  walk(schema, "", (path, node, requiredHere) => {
    if (node.properties) return; // a section, not a leaf
    const entry: OptionEntry = { path, type: typesOf(node), description: node.description ?? "" };
    for (const key of ["enum", "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "pattern"] as const) {
      if (key in node) (entry as any)[key] = node[key];
    }
    if (requiredHere) entry.required = true;
    options.push(entry);
  });
  return options;
}

/** Sections (objects with properties) with their descriptions, for --help headings. */
function buildSectionTable(schema: JsonSchema): { path: string; description: string }[] {
  const sections: { path: string; description: string }[] = [];
  walk(schema, "", (path, node) => {
    if (node.properties) sections.push({ path, description: node.description ?? "" });
  });
  return sections;
}

function cloneSchema(node: JsonSchema): JsonSchema {
  return JSON.parse(JSON.stringify(node));
}

function mapObjects(node: JsonSchema, fn: (n: JsonSchema) => void) {
  if (node && typeof node === "object") {
    if (node.type === "object" || node.properties) fn(node);
    for (const child of Object.values<JsonSchema>(node.properties ?? {})) mapObjects(child, fn);
    if (node.additionalProperties && typeof node.additionalProperties === "object") mapObjects(node.additionalProperties, fn);
  }
}

function withDefaultsRequired(schema: JsonSchema): JsonSchema {
  const copy = cloneSchema(schema);
  mapObjects(copy, (n) => {
    const props = Object.entries<JsonSchema>(n.properties ?? {});
    const required = new Set<string>(n.required ?? []);
    for (const [key, child] of props) if ("default" in child) required.add(key);
    if (props.length) n.required = props.map(([k]) => k).filter((k) => required.has(k));
  });
  return copy;
}

function withTitleSuffix(schema: JsonSchema, suffix: string): JsonSchema {
  const copy = cloneSchema(schema);
  mapObjects(copy, (n) => {
    if (n.title) n.title = `${n.title}${suffix}`;
  });
  return copy;
}

/** Ajv options for the config validator; lib/config/schema.ts compiles with the same ones when needed. */
export const AJV_OPTIONS = { strict: true, allErrors: true, useDefaults: true, allowUnionTypes: true } as const;

/**
 * The schema validator, compiled ahead of time (Ajv standalone code): compiling the schema at
 * start-up costs 100-200 ms on a busy 2-core machine, which is most of the time a bad config
 * takes to be refused.
 */
function buildValidator(schema: JsonSchema): string {
  const ajv = new Ajv2020({ ...AJV_OPTIONS, code: { source: true, esm: true, lines: false } });
  ajv.addKeyword({ keyword: "x-forced", schemaType: "array" });
  ajv.addKeyword({ keyword: "x-ignored-when", schemaType: ["array", "object"] });
  let code = standaloneCode(ajv, ajv.compile(schema));
  code = code.replace('"use strict";', "");
  const runtime = new Set<string>();
  code = code.replace(/require\("ajv\/dist\/runtime\/(\w+)"\)\.default/g, (_m, name: string) => {
    runtime.add(name);
    return `ajvRuntime_${name}`;
  });
  if (/require\(/.test(code)) throw new Error("codegen: Ajv standalone code needs a runtime module that is not handled");
  const imports = [...runtime].sort().map((n) => `import ajvRuntime_${n} from "ajv/dist/runtime/${n}.js";`).join("\n");
  return `${BANNER}
// The config schema validator, precompiled by Ajv (standalone code, ${"JSON Schema 2020-12"}, allErrors, useDefaults).
// @ts-nocheck
/* eslint-disable */
${imports}
${code.trim()}
`;
}

/**
 * generated/reference.yaml: every option at its default, each preceded by its description from
 * the schema (and its allowed values), so a user can copy the block they need into a config.
 */
export function buildReferenceYaml(schema: JsonSchema): string {
  const out: string[] = [
    "# generated — do not edit. Source: schema/config.schema.json; regenerate with `bun run codegen`.",
    "# yaml-language-server: $schema=../schema/config.schema.json",
    "#",
    "# Every qwen-classify option at its default value, with its description. Copy what you need into",
    "# your own config; anything left out takes the default shown here.",
    "#   bun run tasks/train.ts --config generated/reference.yaml --dry-run",
  ];
  const emit = (node: JsonSchema, depth: number) => {
    const indent = "  ".repeat(depth);
    for (const [key, child] of Object.entries<JsonSchema>(node.properties ?? {})) {
      if (depth === 0) out.push("", `# ${"-".repeat(94)}`);
      out.push(...commentLines(child.description ?? "", indent, 96));
      if (child.enum) out.push(`${indent}# one of: ${child.enum.map((v: unknown) => JSON.stringify(v)).join(" | ")}`);
      if (child.properties) {
        out.push(`${indent}${key}:`);
        emit(child, depth + 1);
      } else if ("default" in child) {
        const value = dump(child.default, { flowLevel: 0, lineWidth: -1 }).trim();
        out.push(`${indent}${key}: ${value}`);
      } else {
        out.push(`${indent}${key}: {}`);
      }
    }
  };
  emit(schema, 0);
  return out.join("\n") + "\n";
}

export async function generate(schema: JsonSchema): Promise<Record<string, string>> {
  const compileOptions = {
    additionalProperties: false,
    strictIndexSignatures: true,
    unreachableDefinitions: false,
    format: true,
    style: { printWidth: 120, singleQuote: false, trailingComma: "all" as const },
  };
  // Resolved types (what resolveConfig returns): every option with a default is present.
  const resolved = await compile(withDefaultsRequired(schema), "QwenClassifyConfig", { ...compileOptions, bannerComment: "" });
  // Input types (what a YAML file may contain): everything with a default is optional.
  const input = await compile(withTitleSuffix(schema, "Input"), "QwenClassifyConfigInput", { ...compileOptions, bannerComment: "" });
  const types = `${BANNER}
// QwenClassifyConfig: the fully resolved config (defaults filled). QwenClassifyConfigInput: what a YAML file may hold.

${resolved.trim()}

${input.trim()}
`;
  const json = (v: unknown) => JSON.stringify(v, null, 2);
  const overrides = `${BANNER}
// The override table, read from the x-forced / x-ignored-when annotations of the schema.
// A new forced rule is one schema edit plus \`bun run codegen\`.

export interface OverrideRule {
  /** dotted option path that the rule acts on */
  path: string;
  /** the rule applies when every path here has exactly this value (after file and --set) */
  when: Record<string, unknown>;
  /** the value forced (kind "forced" only) */
  value?: unknown;
  /** highest priority wins when several forced rules apply to one path */
  priority: number;
  reason: string;
  kind: "forced" | "ignored";
}

export const OVERRIDE_RULES: readonly OverrideRule[] = ${json(buildOverrideTable(schema))};
`;
  const options = `${BANNER}
// Every leaf option of the schema: used for --help, --set typing, YAML comments and did-you-mean.
// "*" in a path stands for a name you choose (e.g. datasets.dataset_configs.<name>.num_classes).

export interface OptionInfo {
  path: string;
  type: string[];
  enum?: readonly unknown[];
  default?: unknown;
  description: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  pattern?: string;
  required?: boolean;
}

export const OPTIONS: readonly OptionInfo[] = ${json(buildOptionTable(schema))};

export const SECTIONS: readonly { path: string; description: string }[] = ${json(buildSectionTable(schema))};
`;
  return {
    "config.ts": types,
    "overrides.ts": overrides,
    "options.ts": options,
    "validate.ts": buildValidator(schema),
    "reference.yaml": buildReferenceYaml(schema),
  };
}

async function main() {
  const check = process.argv.includes("--check");
  const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
  // repo-relative path -> text: generated/ from the config schema and (scripts/codegen_messages.ts)
  // from schema/events.schema.json, and the engine's typed config (scripts/codegen_python.ts).
  const outputs: Record<string, string> = {};
  const generatedFiles = { ...(await generate(schema)), ...(await messagesFiles(repoRoot)) };
  for (const [name, text] of Object.entries(generatedFiles)) outputs[`generated/${name}`] = text;
  outputs["engine/qc_engine/config.py"] = buildPythonConfig(schema);
  const stale: string[] = [];
  for (const [name, text] of Object.entries(outputs)) {
    const target = join(repoRoot, name);
    const current = existsSync(target) ? readFileSync(target, "utf8") : null;
    if (current === text) continue;
    stale.push(`${name}${current === null ? " (missing)" : ""}`);
    if (!check) {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, text);
    }
  }
  if (check) {
    if (stale.length) {
      console.error(`codegen --check: generated/ is stale (schema/*.schema.json changed?): ${stale.join(", ")}\n  fix: run \`bun run codegen\` and commit generated/`);
      process.exit(1);
    }
    console.log("codegen --check: generated/ is up to date");
  } else {
    console.log(stale.length ? `codegen: wrote ${stale.join(", ")}` : "codegen: generated/ already up to date");
  }
}

if (import.meta.main) await main();
