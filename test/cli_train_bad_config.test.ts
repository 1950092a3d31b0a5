// Every bad config is refused by the real CLI: exit code 2, one report naming path/line/fix, nothing written.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;

function trainWith(yaml: string | null, extra: string[] = [], dryRun = true) {
  const cwd = mkdtempSync(join(tmpdir(), "qc-bad-"));
  const args = [BUN, "run", join(ROOT, "tasks/train.ts"), "--config", "bad.yaml", ...(dryRun ? ["--dry-run"] : []), ...extra];
  if (yaml !== null) writeFileSync(join(cwd, "bad.yaml"), `training:\n  output_dir: out/should_not_exist\n${yaml}`);
  const p = Bun.spawnSync(args, { cwd, env: { ...process.env, CUDA_VISIBLE_DEVICES: "" }, stdout: "pipe", stderr: "pipe" });
  const written = readdirSync(cwd).filter((f) => f !== "bad.yaml");
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString(), written, cwd };
}

// Lines below are counted from the file: line 1 "training:", line 2 output_dir, then the case.
const CASES: [string, string | null, string[], string[]][] = [
  ["misspelt key", "  save_stpes: 100\n", [], ["bad.yaml:3", "training.save_stpes", 'unknown key "save_stpes"', "did you mean training.save_steps", "fix: rename it to save_steps"]],
  ["wrong type", "  epochs: three\n", [], ["bad.yaml:3", "training.epochs", "expected a number", 'got "three"']],
  ["lr <= 0", "  lr: 0\n", [], ["bad.yaml:3", "training.lr: must be > 0, got 0", "fix: use a value > 0"]],
  ["save_steps 0", "  save_steps: 0\n", [], ["bad.yaml:3", "training.save_steps: must be >= 1, got 0"]],
  ["smoothing 1", "loss:\n  type: label_smoothing\n  smoothing: 1\n", [], ["bad.yaml:5", "loss.smoothing: must be < 1, got 1", ">= 0 and < 1"]],
  ["smoothing < 0", "loss:\n  smoothing: -0.2\n", [], ["bad.yaml:4", "loss.smoothing: must be >= 0"]],
  ["YAML syntax error", "  lr: 1e-5\n epochs: [1,\n", [], ["bad.yaml:4", "YAML syntax error"]],
  ["duplicate key", "  lr: 1e-5\n  lr: 2e-5\n", [], ["bad.yaml:4", "training.lr", "duplicate key", "first at line 3"]],
  ["missing config file", null, [], ["config file not found", "bad.yaml"]],
  ["num_labels mismatch", "model:\n  num_labels: 100\ndatasets:\n  dataset_configs:\n    food101: {num_classes: 101}\n", [], ["bad.yaml:4", "model.num_labels: is 100 but datasets.dataset_configs.food101.num_classes is 101", "model.num_labels: 101"]],
  ["--set unknown path", "", ["--set", "training.learnig_rate=1e-5"], ["training.learnig_rate", "--set training.learnig_rate=1e-5", "unknown option"]],
  ["--set wrong type", "", ["--set", "training.save_steps=often"], ["training.save_steps", "expected an integer", '"often"']],
  ["--set out of bounds", "", ["--set", "training.lr=-1"], ["training.lr: must be > 0", "(from --set training.lr=-1)"]],
  ["data.dataset names a missing entry", "data:\n  dataset: food\ndatasets:\n  dataset_configs:\n    food101: {num_classes: 101}\n", [], ["bad.yaml:4", "data.dataset", 'did you mean "food101"']],
  ["offload_param without ZeRO 3", "deepspeed:\n  offload_param: true\n", [], ["bad.yaml:4", "deepspeed.offload_param", "zero_stage: 3"]],
];

describe("bad configs: exit 2, one report, nothing written", () => {
  for (const [name, yaml, extra, expected] of CASES) {
    test(name, () => {
      const r = trainWith(yaml, extra);
      expect(r.code).toBe(2);
      expect(r.out).toBe("");
      for (const text of expected) expect(r.err).toContain(text);
      expect(r.err).toContain("nothing was written");
      expect(r.err).not.toContain("    at "); // no stack trace
      expect(r.written).toEqual([]);
      expect(existsSync(join(r.cwd, "out/should_not_exist"))).toBe(false);
    });
  }

  test("without --dry-run too: refused before anything is launched or written", () => {
    const r = trainWith("  lr: 0\n", [], false);
    expect(r.code).toBe(2);
    expect(r.err).toContain("training.lr");
    expect(r.written).toEqual([]);
  });

  test("several problems, file and command line, arrive in one numbered report", () => {
    const r = trainWith("  lr: 0\n  save_steps: 0\n  epocs: 2\nloss:\n  smoothing: 3\n", ["--set", "model.num_label=3"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("the config has 5 problems");
    for (const s of ["1. bad.yaml:3: training.lr", "2. bad.yaml:4: training.save_steps", "3. bad.yaml:5: training.epocs", "4. bad.yaml:7: loss.smoothing", "5. model.num_label"]) expect(r.err).toContain(s);
  });
});
