import { expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PROJECT_ROOT, projectPython } from "./python.ts";

test("PROJECT_ROOT is the repository root", () => {
  expect(PROJECT_ROOT).toBe(resolve(import.meta.dir, "..", ".."));
  expect(existsSync(join(PROJECT_ROOT, "schema", "config.schema.json"))).toBe(true);
});

test("the .venv's python when it exists, else python3 from PATH", () => {
  expect(projectPython({ root: "/r", env: {}, exists: (p) => p === "/r/.venv/bin/python" })).toBe("/r/.venv/bin/python");
  expect(projectPython({ root: "/r", env: {}, exists: () => false })).toBe("python3");
  // a real folder: the file decides
  const root = mkdtempSync(join(tmpdir(), "qc-py-root-"));
  expect(projectPython({ root, env: {} })).toBe("python3");
  mkdirSync(join(root, ".venv", "bin"), { recursive: true });
  writeFileSync(join(root, ".venv", "bin", "python"), "");
  expect(projectPython({ root, env: {} })).toBe(join(root, ".venv", "bin", "python"));
});

test("$QC_PYTHON_BIN wins over the .venv; an empty one does not count", () => {
  expect(projectPython({ root: "/r", env: { QC_PYTHON_BIN: "/opt/py/bin/python3.11" }, exists: () => true })).toBe("/opt/py/bin/python3.11");
  expect(projectPython({ root: "/r", env: { QC_PYTHON_BIN: "" }, exists: () => true })).toBe("/r/.venv/bin/python");
});

test("defaults: this repository and process.env", () => {
  const saved = process.env.QC_PYTHON_BIN;
  delete process.env.QC_PYTHON_BIN;
  try {
    const venv = join(PROJECT_ROOT, ".venv", "bin", "python");
    expect(projectPython()).toBe(existsSync(venv) ? venv : "python3");
  } finally {
    if (saved !== undefined) process.env.QC_PYTHON_BIN = saved;
  }
});
