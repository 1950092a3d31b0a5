// schema/config.schema.json -> engine/qc_engine/config.py: frozen, slotted dataclasses for every
// section, so the engine reads typed values (config.training.lr) and never a default of its own.
// Written by scripts/codegen.ts (and checked by `bun run codegen --check`).

type JsonSchema = Record<string, any>;

const PY_BANNER = "# generated — do not edit. Source: schema/config.schema.json; regenerate with `bun run codegen`.";

interface PyField {
  name: string;
  annotation: string; // Python type annotation
  /** Python expression converting `d[name]` (checked) at `path` */
  convert: (value: string, path: string) => string;
  optional: boolean; // may be absent: neither required nor defaulted in the schema (becomes None)
  description: string;
}

interface PyClass {
  name: string;
  description: string;
  fields: PyField[];
}

const SCALARS: Record<string, string> = { string: "str", integer: "int", number: "float", boolean: "bool", null: "None" };

function typesOf(node: JsonSchema): string[] {
  if (Array.isArray(node.type)) return [...node.type];
  if (typeof node.type === "string") return [node.type];
  return [];
}

function pascal(key: string): string {
  return key.split(/[_\W]+/).filter(Boolean).map((p) => p[0].toUpperCase() + p.slice(1)).join("");
}

/** Collects one class per object node (depth first, children before parents so Python can resolve them). */
function collect(node: JsonSchema, className: string, classes: PyClass[]): string {
  const required = new Set<string>(node.required ?? []);
  const fields: PyField[] = [];
  for (const [key, child] of Object.entries<JsonSchema>(node.properties ?? {})) {
    const optional = !required.has(key) && !("default" in child);
    fields.push({ name: key, optional, description: child.description ?? "", ...fieldType(key, child, classes) });
  }
  classes.push({ name: className, description: node.description ?? "", fields });
  return className;
}

function fieldType(key: string, child: JsonSchema, classes: PyClass[]): Pick<PyField, "annotation" | "convert"> {
  if (child.properties) {
    const cls = collect(child, child.title ?? `${pascal(key)}Config`, classes);
    return { annotation: cls, convert: (v, p) => `${cls}.from_dict(${v}, ${p})` };
  }
  const types = typesOf(child);
  if (types.includes("object") && child.additionalProperties && typeof child.additionalProperties === "object") {
    const entry = child.additionalProperties as JsonSchema;
    const cls = collect(entry, entry.title ?? `${pascal(key)}Entry`, classes);
    return { annotation: `dict[str, ${cls}]`, convert: (v, p) => `_map(${v}, ${p}, ${cls}.from_dict)` };
  }
  if (types.includes("array")) {
    const items = typesOf(child.items ?? {});
    const item = items.length === 1 && SCALARS[items[0]] ? SCALARS[items[0]] : "object";
    return { annotation: `tuple[${item}, ...]`, convert: (v, p) => `_list(${v}, ${p}, ${item})` };
  }
  const py = types.map((t) => {
    if (!SCALARS[t]) throw new Error(`codegen_python: ${key}: schema type ${t} has no Python mapping`);
    return SCALARS[t];
  });
  if (!py.length) throw new Error(`codegen_python: ${key}: no type in the schema`);
  const tuple = py.length === 1 ? py[0] : `(${py.join(", ")})`;
  return { annotation: py.join(" | "), convert: (v, p) => `_scalar(${v}, ${p}, ${tuple})` };
}

function docLines(text: string, indent: string): string[] {
  if (!text) return [];
  return [`${indent}"""${text.replace(/\\/g, "\\\\").replace(/"""/g, '\\"\\"\\"')}"""`, ""];
}

/** Wraps a description into "# " comment lines at the given indent (Python here, YAML in codegen.ts). */
export function commentLines(text: string, indent: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + 2 + line.length + 1 + w.length > width) {
      lines.push(`${indent}# ${line}`);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(`${indent}# ${line}`);
  return lines;
}

function renderClass(cls: PyClass): string {
  const lines = ["@dataclass(frozen=True, slots=True)", `class ${cls.name}:`];
  lines.push(...docLines(cls.description, "    "));
  for (const f of cls.fields) {
    const ann = f.optional ? `${f.annotation} | None` : f.annotation;
    lines.push(...commentLines(f.description, "    ", 110), `    ${f.name}: ${ann}`);
  }
  const keys = (pred: (f: PyField) => boolean) =>
    `(${cls.fields.filter(pred).map((f) => JSON.stringify(f.name)).join(", ")}${cls.fields.filter(pred).length === 1 ? "," : ""})`;
  lines.push(
    "",
    `    KEYS: ClassVar[tuple[str, ...]] = ${keys(() => true)}`,
    `    OPTIONAL: ClassVar[tuple[str, ...]] = ${keys((f) => f.optional)}`,
    "",
    "    @classmethod",
    `    def from_dict(cls, data: Any, path: str = "") -> "${cls.name}":`,
    "        d = _checked(data, path, cls.KEYS, cls.OPTIONAL)",
    "        return cls(",
  );
  for (const f of cls.fields) {
    const p = `_join(path, ${JSON.stringify(f.name)})`;
    const conv = f.convert(`d[${JSON.stringify(f.name)}]`, p);
    lines.push(f.optional
      ? `            ${f.name}=None if d.get(${JSON.stringify(f.name)}) is None else ${conv},`
      : `            ${f.name}=${conv},`);
  }
  lines.push("        )");
  return lines.join("\n");
}

const RUNTIME = `
class ConfigError(BadInput):
    """resolved_config.json does not match schema/config.schema.json (exit 2)."""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _checked(data: Any, path: str, keys: tuple[str, ...], optional: tuple[str, ...]) -> dict:
    """Refuses missing and unknown keys: the TS side writes every value, so a gap is a bug or a stale file."""
    where = path or "config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}",
                          hint="write resolved_config.json with tasks/train.ts (it fills every default)")
    unknown = sorted(set(data) - set(keys))
    missing = [k for k in keys if k not in data and k not in optional]
    if unknown or missing:
        parts = ([f"unknown key(s) {', '.join(_join(path, k) for k in unknown)}"] if unknown else []) + (
            [f"missing key(s) {', '.join(_join(path, k) for k in missing)}"] if missing else [])
        raise ConfigError(f"resolved config: {'; '.join(parts)}",
                          hint="re-resolve the config with this version of tasks/train.ts (--dry-run --json shows it)")
    return data


def _scalar(value: Any, path: str, kind: Any) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is None and value is None:
            return None
        if k is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if k is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if k in (str, bool) and type(value) is k:
            return value
    names = " | ".join("null" if k is None else k.__name__ for k in kinds)
    raise ConfigError(f"{path}: expected {names}, got {value!r}")


def _list(value: Any, path: str, item: Any) -> tuple:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list, got {value!r}")
    return tuple(value if item is object else (_scalar(v, f"{path}[{i}]", item) for i, v in enumerate(value)))


def _map(value: Any, path: str, build: Callable[[Any, str], Any]) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected an object, got {value!r}")
    return {name: build(entry, _join(path, name)) for name, entry in value.items()}
`;

const LOADER = `

def load_resolved(path: str | Path) -> tuple[${"QwenClassifyConfig"}, str]:
    """(config, config_hash) from OUT/resolved_config.json, as tasks/train.ts writes it."""
    try:
        resolved = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable resolved_config.json ({exc})") from None
    if not isinstance(resolved, dict) or "config" not in resolved:
        raise ConfigError(f"{path}: no \\"config\\" object; write it with tasks/train.ts")
    return QwenClassifyConfig.from_dict(resolved["config"]), str(resolved.get("config_hash", ""))
`;

/** The whole engine/qc_engine/config.py text for `schema`. */
export function buildPythonConfig(schema: JsonSchema): string {
  const classes: PyClass[] = [];
  const root = collect(schema, schema.title ?? "QwenClassifyConfig", classes);
  if (root !== "QwenClassifyConfig") throw new Error(`codegen_python: the schema's title must be QwenClassifyConfig (is ${root})`);
  const names = classes.map((c) => c.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`codegen_python: two schema objects map to the Python class ${dup}; give one a distinct title`);
  return `${PY_BANNER}
"""The resolved run config as typed, frozen dataclasses (one per schema section).

Built from resolved_config.json with every value present: \`from_dict\` refuses missing and unknown
keys, and the slotted classes raise AttributeError on a key the schema does not have. The engine
holds no default of its own; the schema's defaults are filled by the TypeScript side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from .errors import BadInput
${RUNTIME}

${classes.map(renderClass).join("\n\n\n")}
${LOADER}`;
}
