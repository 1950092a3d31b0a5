// One set of data rules for both planes: the fixtures of test/fixtures/data_rules are also read by
// engine/tests/test_data_rules.py against qc_engine.data (parse_line, read_labels_file).
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkLine } from "./check.ts";
import { parseLabelsFile, type ClassSpec } from "./classes.ts";

const RULES = join(import.meta.dir, "..", "..", "test", "fixtures", "data_rules");
const expectedLines = JSON.parse(readFileSync(join(RULES, "lines.expected.json"), "utf8"));
const lines = readFileSync(join(RULES, "lines.jsonl"), "utf8").split("\n").filter((l) => l !== "");
const expectedLabels: Record<string, string[] | null> = JSON.parse(readFileSync(join(RULES, "labels.expected.json"), "utf8")).files;

function spec(setup: "named" | "ids_only"): ClassSpec {
  const names: string[] | null = setup === "named" ? expectedLines.named.class_names : null;
  return { numLabels: names ? names.length : expectedLines.ids_only.num_labels, names, source: "fixture", datasetName: null, problems: [] };
}

describe("data rules (test/fixtures/data_rules)", () => {
  for (const setup of ["named", "ids_only"] as const) {
    test(`every fixture line gets the expected outcome (${setup})`, () => {
      const classes = spec(setup);
      const nameToId = new Map((classes.names ?? []).map((n, i) => [n, i] as const));
      expect(lines.length).toBe(expectedLines.lines.length);
      const outcomes = expectedLines.lines.map((c: { line: number }) => {
        const v = checkLine(lines[c.line - 1], classes, nameToId);
        return v.problem ? { reject: v.problem.kind } : { label: v.label };
      });
      expect(outcomes).toEqual(expectedLines.lines.map((c: Record<string, unknown>) => c[setup]));
    });
  }

  test("every fixture labels file parses or is refused", () => {
    const files = readdirSync(RULES).filter((f) => f.startsWith("labels_")).sort();
    expect(files).toEqual(Object.keys(expectedLabels).sort());
    for (const name of files) {
      const r = parseLabelsFile(name, readFileSync(join(RULES, name), "utf8"));
      const expected = expectedLabels[name];
      if (expected === null) expect({ name, refused: "error" in r }).toEqual({ name, refused: true });
      else expect({ name, r }).toEqual({ name, r: { names: expected } });
    }
  });
});
