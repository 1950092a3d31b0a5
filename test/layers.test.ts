// Dependencies point one way: tasks -> train (and the other features) -> preflight, checkpoints,
// hub -> config, events, util. An import from a lower layer back up fails here, naming file:line.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

/** Layer of each top folder (lower number = higher up); same-layer imports are allowed. */
export const LAYERS: Record<string, number> = {
  tasks: 0,
  "lib/train": 1,
  "lib/evaluate": 1,
  "lib/export": 1,
  "lib/data": 1,
  "lib/predict": 1,
  "lib/preflight": 2,
  "lib/checkpoints": 2,
  "lib/hub": 2,
  "lib/config": 3,
  "lib/events": 3,
  "lib/util": 3,
  generated: 4,
  schema: 4,
};

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = join(dir, e.name);
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.startsWith("test_") ? [rel] : [];
  });
}

function layerOf(rel: string): { name: string; layer: number } | null {
  const key = Object.keys(LAYERS).find((k) => rel === k || rel.startsWith(k + "/"));
  return key === undefined ? null : { name: key, layer: LAYERS[key]! };
}

/** Every relative module specifier of a file (static, re-export and dynamic imports), with its line. */
export function importsOf(text: string): { spec: string; line: number }[] {
  const out: { spec: string; line: number }[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm;
  for (const m of text.matchAll(re)) out.push({ spec: m[1]!, line: text.slice(0, m.index).split("\n").length });
  return out;
}

test("the import scanner sees static, multi-line, re-export and dynamic imports", () => {
  const text = 'import { a } from "../x.ts";\nimport {\n  b,\n} from "../y.ts";\nexport { c } from "./z.ts";\nconst m = await import("../w.ts");\nimport "./side.ts";\n';
  expect(importsOf(text)).toEqual([
    { spec: "../x.ts", line: 1 },
    { spec: "../y.ts", line: 4 },
    { spec: "./z.ts", line: 5 },
    { spec: "../w.ts", line: 6 },
    { spec: "./side.ts", line: 7 },
  ]);
});

test("no module imports from a layer above its own", () => {
  const files = [...sources("lib"), ...sources("tasks")];
  expect(files.length).toBeGreaterThan(50);
  const upward: string[] = [];
  const unknown: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    if (!from) {
      unknown.push(file);
      continue;
    }
    for (const { spec, line } of importsOf(readFileSync(join(ROOT, file), "utf8"))) {
      const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
      const to = layerOf(target);
      if (!to) unknown.push(`${file}:${line} -> ${target}`);
      else if (to.layer < from.layer) upward.push(`${file}:${line}: ${from.name} (layer ${from.layer}) imports ${target} (${to.name}, layer ${to.layer})`);
    }
  }
  expect(unknown).toEqual([]); // a new folder: give it a layer in LAYERS
  expect(upward).toEqual([]);
});
