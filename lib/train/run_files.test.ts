import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFilePaths, writeRunFiles } from "./run_files.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const sink = () => {
  const chunks: string[] = [];
  return { write: (s: string) => void chunks.push(s), text: () => chunks.join("") };
};

test("writes resolved_config.json, ds_config.json and logs/ with secrets redacted; clears a stale stop file", () => {
  const root = mkdtempSync(join(tmpdir(), "qc-files-"));
  dirs.push(root);
  const files = runFilePaths(join(root, "out"));
  mkdirSync(files.outputDir);
  writeFileSync(files.stopFile, "old");
  const release = writeRunFiles({ files, previous: { state: "new", checkpoints: [], hashes: [] }, resolvedDoc: { token: "hf_secret123" }, dsConfig: { zero: 2 }, secrets: ["hf_secret123"], command: ["torchrun"], trackingEnabled: true, stderr: sink() });
  // The run lock is held while the run lives, and released by the returned function.
  expect(readdirSync(files.outputDir).sort()).toEqual([".train.lock", "ds_config.json", "logs", "resolved_config.json"]);
  release();
  expect(readdirSync(files.outputDir).sort()).toEqual(["ds_config.json", "logs", "resolved_config.json"]);
  expect(JSON.parse(readFileSync(files.resolvedPath, "utf8"))).toEqual({ token: "***" });
  expect(JSON.parse(readFileSync(files.dsPath, "utf8"))).toEqual({ zero: 2 });
});

test("--overwrite removes only what a run writes; without it, a note about this config's checkpoints", () => {
  const root = mkdtempSync(join(tmpdir(), "qc-files-"));
  dirs.push(root);
  const files = runFilePaths(join(root, "out"));
  mkdirSync(join(files.outputDir, "checkpoint-2"), { recursive: true });
  writeFileSync(join(files.outputDir, "notes.txt"), "mine");
  const previous = { state: "same" as const, checkpoints: ["checkpoint-2"], hashes: ["h"] };
  const err1 = sink();
  writeRunFiles({ files, previous, resolvedDoc: {}, dsConfig: {}, secrets: [], command: ["torchrun"], trackingEnabled: true, stderr: err1 })();
  expect(err1.text()).toContain("already holds 1 checkpoint(s) of this config; this run starts from step 0");
  const err2 = sink();
  writeRunFiles({ files, previous, overwrite: true, resolvedDoc: {}, dsConfig: {}, secrets: [], command: ["torchrun"], trackingEnabled: true, stderr: err2 })();
  expect(err2.text()).toBe(`overwrite: removed checkpoint-2, ds_config.json, logs, resolved_config.json from ${files.outputDir}\n`);
  expect(existsSync(join(files.outputDir, "notes.txt"))).toBe(true);
  expect(existsSync(join(files.outputDir, "checkpoint-2"))).toBe(false);
});
