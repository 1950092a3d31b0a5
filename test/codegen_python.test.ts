// scripts/codegen_python.ts: the engine's typed config is generated from the one schema.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildPythonConfig } from "../scripts/codegen_python.ts";

const ROOT = join(import.meta.dir, "..");
const schema = JSON.parse(readFileSync(join(ROOT, "schema/config.schema.json"), "utf8"));

describe("buildPythonConfig", () => {
  test("is what engine/qc_engine/config.py holds (codegen wrote it)", () => {
    expect(buildPythonConfig(schema)).toBe(readFileSync(join(ROOT, "engine/qc_engine/config.py"), "utf8"));
  });

  test("one frozen, slotted dataclass per section, with every key of the section", () => {
    const text = buildPythonConfig(schema);
    for (const [key, section] of Object.entries<any>(schema.properties)) {
      expect(text).toContain(`@dataclass(frozen=True, slots=True)\nclass ${section.title}:`);
      expect(text).toContain(`    ${key}: ${section.title}\n`);
      const keys = Object.keys(section.properties).map((k) => JSON.stringify(k)).join(", ");
      expect(text).toContain(`KEYS: ClassVar[tuple[str, ...]] = (${keys}${Object.keys(section.properties).length === 1 ? "," : ""})`);
    }
    expect(text).toContain("resume_from_checkpoint: str | None");
    expect(text).toContain("dataset_configs: dict[str, DatasetEntry]");
    expect(text).toContain('OPTIONAL: ClassVar[tuple[str, ...]] = ("class_names",)');
  });

  test("a schema type with no Python mapping, or two sections with one class name, is an error", () => {
    const odd = JSON.parse(JSON.stringify(schema));
    odd.properties.data.properties.prompt.type = "blob";
    expect(() => buildPythonConfig(odd)).toThrow("prompt: schema type blob has no Python mapping");
    const twice = JSON.parse(JSON.stringify(schema));
    twice.properties.loss.title = "ModelConfig";
    expect(() => buildPythonConfig(twice)).toThrow("two schema objects map to the Python class ModelConfig");
  });
});
