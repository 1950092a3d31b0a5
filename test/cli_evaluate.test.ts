// tasks/evaluate.ts end to end: the real CLI on real tiny checkpoints (a short DeepSpeed run
// on the CPU, built by engine/tests/test_evaluate.py --build), its outputs, files and exit codes.
import { beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkPng } from "../lib/evaluate/test_helpers.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const PYTHON = join(ROOT, ".venv", "bin", "python");

function evaluate(args: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync([BUN, "run", join(ROOT, "tasks", "evaluate.ts"), ...args], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", DS_ACCELERATOR: "cpu", OMP_NUM_THREADS: "1", ...env },
  });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

interface Built {
  run: string;
  eval_data: string;
  checkpoints: string[];
}
let built: Built;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "qc-cli-eval-"));
  const r = Bun.spawnSync([PYTHON, join(ROOT, "engine", "tests", "test_evaluate.py"), "--build", dir], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, PYTHONPATH: join(ROOT, "engine"), DS_ACCELERATOR: "cpu", OMP_NUM_THREADS: "1" },
  });
  if (r.exitCode !== 0) throw new Error(`building the tiny run failed:\n${r.stderr.toString().slice(-3000)}`);
  built = JSON.parse(r.stdout.toString().trim().split("\n").pop()!);
}, 600_000);

const snapshot = (dir: string): Record<string, number> => {
  const out: Record<string, number> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = statSync(p).mtimeMs;
    }
  };
  walk(dir);
  return out;
};

describe("tasks/evaluate.ts", () => {
  test("--help lists every option and exits 0", () => {
    const r = evaluate(["--help"]);
    expect(r.code).toBe(0);
    for (const flag of ["--checkpoint", "--checkpoint_path", "--all", "--config", "--config_path", "--eval-data", "--eval_data", "--json", "--force", "--keep-best", "--nproc-per-node", "--batch-size"]) {
      expect(r.stdout).toContain(flag);
    }
  });

  test("--all: sweep in one engine process, leaderboard, eval_summary.json + a valid PNG, then the cache", () => {
    const r = evaluate(["--all", built.run, "--eval-data", built.eval_data, "--batch-size", "4", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.num_samples).toBe(45);
    expect(out.checkpoints.map((c: any) => [c.step, c.status])).toEqual([6, 12, 18, 24, 30].map((s) => [s, "evaluated"]));
    // plain progress lines on stderr (not a TTY): one plan, 5 checkpoints
    expect(r.stderr).toContain("[evaluate] 45 samples");
    expect(r.stderr.match(/\[evaluate\] \[\d\/5\] checkpoint-/g)?.length).toBe(5);
    const summary = JSON.parse(readFileSync(join(built.run, "eval_summary.json"), "utf8"));
    expect(summary).toEqual(out.summary);
    expect(summary.rows.length).toBe(5);
    // the best is the one with the highest accuracy (ties: the earlier step)
    const rows = [...summary.rows].sort((a: any, b: any) => b.metrics.accuracy - a.metrics.accuracy || a.step - b.step);
    expect(summary.best.name).toBe(rows[0].name);
    expect(summary.rows.filter((x: any) => x.is_best).map((x: any) => x.name)).toEqual([rows[0].name]);
    expect(summary.rows.every((x: any) => typeof x.train_loss === "number")).toBe(true);
    expect(summary.recommendation).toContain(`keep ${rows[0].name}`);
    const { width, height } = checkPng(join(built.run, "eval_summary.png"));
    expect(width).toBeGreaterThan(100);
    expect(height).toBeGreaterThan(100);

    // again, human output: every checkpoint comes from the cache, the leaderboard marks the best
    const again = evaluate(["--all", built.run, "--eval-data", built.eval_data]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("evaluated 0 checkpoint(s), 5 already evaluated on this set (cached; --force re-evaluates)");
    expect(again.stdout).toMatch(new RegExp(`^\\s+\\*\\s+1\\s+${rows[0].name}\\s`, "m"));
    expect(again.stdout).toContain(`recommendation: keep ${rows[0].name}`);
    expect(again.stderr.match(/skipped \(already evaluated/g)?.length).toBe(5);
  }, 600_000);

  test("--checkpoint_path/--eval_data aliases: one checkpoint, the readable table; --force re-evaluates", () => {
    const ckpt = built.checkpoints[1];
    const r = evaluate(["--checkpoint_path", ckpt, "--eval_data", built.eval_data, "--force", "--batch-size", "4"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("checkpoint-12 (step 12) on");
    expect(r.stdout).toMatch(/accuracy\s+\d+\.\d\d%/);
    expect(r.stdout).toContain("confusion matrix");
    expect(r.stdout).toContain("evaluated 1 checkpoint(s)");
    const key = Object.keys(JSON.parse(readFileSync(join(ckpt, "eval_results.json"), "utf8")));
    expect(key.length).toBe(1);
    expect(r.stdout).toContain(`(key ${key[0]})`);
  }, 600_000);

  test("--nproc-per-node 2 gives the 1-process metrics exactly", () => {
    const ckpt = built.checkpoints[2];
    const one = JSON.parse(evaluate(["--checkpoint", ckpt, "--eval-data", built.eval_data, "--batch-size", "4", "--json"]).stdout);
    const two = evaluate(["--checkpoint", ckpt, "--eval-data", built.eval_data, "--batch-size", "4", "--json", "--force", "--nproc-per-node", "2"]);
    expect(two.code).toBe(0);
    const m2 = JSON.parse(two.stdout);
    expect(m2.world_size).toBe(2);
    for (const k of ["accuracy", "top5_accuracy", "macro_f1", "confusion_matrix", "per_class"]) expect(m2.metrics[k]).toEqual(one.metrics[k]);
    expect(Math.abs(m2.metrics.loss - one.metrics.loss)).toBeLessThan(1e-6 * one.metrics.loss);
  }, 600_000);

  test("--keep-best 2 applies retention best:2 after the sweep", () => {
    const copy = mkdtempSync(join(tmpdir(), "qc-cli-eval-keep-"));
    cpSync(built.run, copy, { recursive: true });
    // the copied resolved config still points at the original data: fine, --eval-data is given
    const r = evaluate(["--all", copy, "--eval-data", built.eval_data, "--keep-best", "2"]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(readFileSync(join(copy, "eval_summary.json"), "utf8"));
    const top2 = [...summary.rows].sort((a: any, b: any) => a.rank - b.rank).slice(0, 2).map((x: any) => x.name);
    const left = readdirSync(copy).filter((n) => /^checkpoint-\d+$/.test(n)).sort();
    const expected = [...new Set([...top2, "checkpoint-30"])].sort(); // the newest is always kept
    expect(left).toEqual(expected);
    expect(r.stdout).toMatch(/retention best:2: deleted checkpoint-/);
    rmSync(copy, { recursive: true, force: true });
  }, 600_000);

  test("bad input: incomplete checkpoint, bad eval file, unknown flag: exit 2, clear message, nothing written", () => {
    const copy = mkdtempSync(join(tmpdir(), "qc-cli-eval-bad-"));
    cpSync(built.checkpoints[0], join(copy, "checkpoint-6"), { recursive: true });
    for (const f of ["eval_results.json", "predictions.jsonl"]) rmSync(join(copy, "checkpoint-6", f), { force: true });
    cpSync(join(built.run, "resolved_config.json"), join(copy, "resolved_config.json"));
    rmSync(join(copy, "checkpoint-6", "training_info.json"));
    let r = evaluate(["--checkpoint", join(copy, "checkpoint-6"), "--eval-data", built.eval_data]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is not a complete checkpoint (no training_info.json)");

    cpSync(join(built.checkpoints[0], "training_info.json"), join(copy, "checkpoint-6", "training_info.json"));
    const before = snapshot(copy);
    const bad = join(copy, "bad.jsonl");
    const lines = readFileSync(built.eval_data, "utf8").trim().split("\n");
    const first = JSON.parse(lines[0]);
    first.image = join(built.eval_data, "..", first.image);
    writeFileSync(bad, [JSON.stringify(first), JSON.stringify({ ...first, label: 10 })].join("\n") + "\n");
    r = evaluate(["--all", copy, "--eval-data", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${bad}:2: label 10 out of range 0..9`);
    expect(r.stderr).not.toContain("Traceback");
    const after = snapshot(copy);
    delete after[bad];
    expect(after).toEqual(before);
    expect(existsSync(join(copy, "eval_summary.json"))).toBe(false);

    r = evaluate(["--all", copy, "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--bogus");
    rmSync(copy, { recursive: true, force: true });
  }, 600_000);

  test("adapter-only LoRA checkpoint: a missing base model folder (evaluate --all) or adapter/ (predict) is refused (exit 2), naming it and the fix", () => {
    // A checkpoint as hf_format: adapter leaves it (training_info "lora", adapter/, no hf_model/); the refusals come
    // before any weight is read, so placeholder adapter files do (engine/tests/test_lora_train.py runs the real one).
    const copy = mkdtempSync(join(tmpdir(), "qc-cli-eval-lora-"));
    const ckpt = join(copy, "checkpoint-6");
    cpSync(built.checkpoints[0], ckpt, { recursive: true });
    cpSync(join(built.run, "resolved_config.json"), join(copy, "resolved_config.json"));
    rmSync(join(ckpt, "hf_model"), { recursive: true });
    const info = JSON.parse(readFileSync(join(ckpt, "training_info.json"), "utf8"));
    const base = join(copy, "gone", "Qwen2.5-VL-7B-Instruct");
    info.has_hf_model = false;
    info.files = Object.fromEntries(Object.entries(info.files ?? {}).filter(([k]) => !k.startsWith("hf_model/")));
    info.lora = { r: 4, alpha: 8, dropout: 0, target_modules: ["q_proj"], vision_tower: "frozen", adapter_dir: "adapter", hf_model: "absent", base_model: base, base_revision: null };
    writeFileSync(join(ckpt, "training_info.json"), JSON.stringify(info));
    for (const f of ["adapter_config.json", "adapter_model.safetensors"]) {
      cpSync(join(built.run, "resolved_config.json"), join(ckpt, "adapter", f)); // placeholder content
    }
    const before = snapshot(copy);
    const r = evaluate(["--all", copy, "--eval-data", built.eval_data]); // the sweep takes adapter-only checkpoints
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the LoRA base model folder ${base} (${join(ckpt, "training_info.json")} lora.base_model) does not exist`);
    expect(r.stderr).toContain("put that model folder back at this path");
    expect(r.stderr).not.toContain("Traceback");
    expect(snapshot(copy)).toEqual(before); // nothing written

    rmSync(join(ckpt, "adapter"), { recursive: true });
    const predict = Bun.spawnSync([BUN, "run", join(ROOT, "tasks", "predict.ts"), "--checkpoint", ckpt, "--images", built.eval_data, "--out", join(copy, "p.jsonl")], {
      cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", DS_ACCELERATOR: "cpu", OMP_NUM_THREADS: "1" },
    });
    expect(predict.exitCode).toBe(2);
    expect(predict.stderr.toString()).toContain(`${ckpt}: a LoRA checkpoint needs hf_model/ or adapter/`);
    expect(predict.stderr.toString()).toContain(`bun run tasks/export.ts --checkpoint ${ckpt} --merge`);
    expect(existsSync(join(copy, "p.jsonl"))).toBe(false);
    rmSync(copy, { recursive: true, force: true });
  }, 600_000);
});
