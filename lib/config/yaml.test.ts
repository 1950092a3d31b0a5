import { expect, test } from "bun:test";
import { parseYaml } from "./yaml.ts";

test("line of every key path, nested, flow and quoted keys, sequence items", () => {
  const text = "# comment\na: 1\nb:\n  c: [1, 2]\n  d: {e: 3}\n  f:\n    - x\n    - y: 2\n  \"q k\": 'v'\n";
  const r = parseYaml({ text });
  expect(r.problems).toEqual([]);
  expect(Object.fromEntries(r.lines)).toEqual({ a: 2, b: 3, "b.c": 4, "b.d": 5, "b.d.e": 5, "b.f": 6, "b.f.1.y": 8, "b.q k": 9 });
  expect(r.data).toEqual({ a: 1, b: { c: [1, 2], d: { e: 3 }, f: ["x", { y: 2 }], "q k": "v" } });
});

test("duplicate keys: reported with path and line, later value kept so validation goes on", () => {
  const r = parseYaml({ text: "t:\n  x: 1\n  y: 2\n  x: 3\nu:\n  x: 4\n" });
  expect(r.problems).toEqual([{ kind: "duplicate", line: 4, column: 3, path: "t.x", message: 'duplicate key "x"' }]);
  expect(r.data).toEqual({ t: { x: 3, y: 2 }, u: { x: 4 } });
  expect(r.lines.get("t.x")).toBe(2);
});

test("syntax errors carry a 1-based line", () => {
  const r = parseYaml({ text: "a: 1\nb:\n  c: 2\n d: [\n" });
  expect(r.data).toBeNull();
  expect(r.problems[0].kind).toBe("syntax");
  expect(r.problems[0].line).toBe(4);
});

test("empty and comment-only files are an empty mapping", () => {
  expect(parseYaml({ text: "" }).data).toEqual({});
  expect(parseYaml({ text: "# nothing\n\n" }).data).toEqual({});
});

test("YAML 1.2 scalars: 1e-5 is a number, yes is a string", () => {
  expect(parseYaml({ text: "a: 1e-5\nb: yes\nc: ~\n" }).data).toEqual({ a: 1e-5, b: "yes", c: null });
});
