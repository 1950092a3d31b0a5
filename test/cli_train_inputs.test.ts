// Issue 14: a run whose model, data and labels are missing is refused before torchrun, in one
// report naming each once, with exit 2 and nothing written.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test("missing model, train/val JSONL and labels: each named once, exit 2, nothing created, nothing started", () => {
  const cwd = mkdtempSync(join(tmpdir(), "qc-inputs-cli-"));
  dirs.push(cwd);
  writeFileSync(
    join(cwd, "run.yaml"),
    [
      "model:",
      "  pretrained_name: /models/Qwen2.5-VL-7B-Instruct",
      "  num_labels: 101",
      "data:",
      "  train_jsonl: data/food101/train.jsonl",
      "  val_jsonl: data/food101/test.jsonl",
      "  labels_file: data/food101/labels.json",
      "training:",
      "  output_dir: out/food101_no_eval",
      "",
    ].join("\n"),
  );
  const p = Bun.spawnSync([process.execPath, "run", join(ROOT, "tasks/train.ts"), "--config", "run.yaml"], {
    cwd,
    env: { ...process.env, CUDA_VISIBLE_DEVICES: "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const err = p.stderr.toString();
  expect(p.exitCode).toBe(2);
  expect(err).toContain("the run's inputs have 4 problems; nothing was written and nothing was started:");
  const yaml = join(cwd, "run.yaml");
  for (const [line, text] of [
    [2, "model.pretrained_name: model folder /models/Qwen2.5-VL-7B-Instruct does not exist"],
    [5, `data.train_jsonl: ${join(cwd, "data/food101/train.jsonl")} does not exist`],
    [6, `data.val_jsonl: ${join(cwd, "data/food101/test.jsonl")} does not exist`],
    [7, `data.labels_file: ${join(cwd, "data/food101/labels.json")} does not exist`],
  ] as const) {
    expect(err).toContain(`${yaml}:${line}: ${text}`);
    expect(err.split(text).length).toBe(2); // once
  }
  // no disk preflight, no torchrun, no DeepSpeed op build
  expect(err).not.toContain("preflight");
  expect(err).not.toContain("torch");
  expect(readdirSync(cwd)).toEqual(["run.yaml"]);
  expect(existsSync(join(cwd, "out"))).toBe(false);
});

test("a Hub id is checked on the Hub before anything is written (an unreachable Hub: exit 2, the fix named)", () => {
  const cwd = mkdtempSync(join(tmpdir(), "qc-inputs-cli-"));
  dirs.push(cwd);
  const p = Bun.spawnSync(
    [process.execPath, "run", join(ROOT, "tasks/train.ts"), "--config", join(ROOT, "configs/demo.yaml"), "--set", "model.pretrained_name=Qwen/Qwen2.5-VL-3B-Instruct", "--set", "demo.build_tiny_model=false", "--set", `training.output_dir=${join(cwd, "out")}`],
    { cwd, env: { ...process.env, CUDA_VISIBLE_DEVICES: "", HF_ENDPOINT: "http://127.0.0.1:9" }, stdout: "pipe", stderr: "pipe" },
  );
  const err = p.stderr.toString();
  expect(p.exitCode).toBe(2);
  expect(err).toContain("model.pretrained_name Qwen/Qwen2.5-VL-3B-Instruct: cannot reach the Hub at http://127.0.0.1:9");
  expect(err).toContain("HF_HUB_OFFLINE=1");
  expect(existsSync(join(cwd, "out"))).toBe(false);
});
