// tasks/train.ts --dry-run / --json / --help through the real CLI.
import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;

function train(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const p = Bun.spawnSync([BUN, "run", join(ROOT, "tasks/train.ts"), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, CUDA_VISIBLE_DEVICES: "", ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe("tasks/train.ts --dry-run", () => {
  test("no-eval config: report with forced values and a warning for an explicit value that lost; writes nothing", () => {
    const cwd = mkdtempSync(join(tmpdir(), "qc-dry-"));
    const r = train(["--config", join(ROOT, "configs/food101_no_eval_save_all.yaml"), "--dry-run", "--set", "training.evaluation.full_eval_at_end=true"], { cwd });
    expect(r.code).toBe(0);
    expect(r.out).toContain("training.save_all_checkpoints");
    expect(r.out).toContain("training.best_model_tracking.enabled");
    expect(r.out).toMatch(/training\.eval_steps\s+200 \(default\)\s+ignored/);
    expect(r.out).toContain("WARNING: training.evaluation.full_eval_at_end: you set true (--set training.evaluation.full_eval_at_end=true) but false is used");
    expect(r.out).toContain("-m torch.distributed.run --standalone --nproc-per-node 1 -m qc_engine.train");
    expect(r.out).toContain(`--resolved ${join(cwd, "out/food101_no_eval/resolved_config.json")}`);
    expect(r.out).toContain("DS_ACCELERATOR=cpu");
    expect(readdirSync(cwd)).toEqual([]); // nothing written
  });

  test("no-eval config + --set training.checkpoint.retention=last:2: all is used, listed with source and reason, WARNING", () => {
    const cwd = mkdtempSync(join(tmpdir(), "qc-dry-ret-"));
    const args = ["--config", join(ROOT, "configs/food101_no_eval_save_all.yaml"), "--dry-run", "--set", "training.checkpoint.retention=last:2"];
    const r = train(args, { cwd });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/training\.checkpoint\.retention\s+"last:2" \(--set\)\s+"all"\s+training\.skip_evaluation=true keeps every checkpoint/);
    expect(r.out).toContain('WARNING: training.checkpoint.retention: you set "last:2" (--set training.checkpoint.retention=last:2) but "all" is used');
    const doc = JSON.parse(train([...args, "--json"], { cwd }).out);
    expect(doc.config.training.checkpoint.retention).toBe("all");
    expect(doc.overrides.find((o: any) => o.path === "training.checkpoint.retention")).toMatchObject({ requested: "last:2", value: "all", source: "cli", kind: "forced" });
    // the shipped no-eval config keeps every checkpoint resumable: no slimming warning
    expect(r.out).not.toContain("keep_optimizer_states");
    expect(readdirSync(cwd)).toEqual([]);
  });

  test("--json prints exactly one JSON object with config, overrides and command", () => {
    const cwd = mkdtempSync(join(tmpdir(), "qc-json-"));
    const r = train(["--config", join(ROOT, "configs/food101_no_eval_save_all.yaml"), "--dry-run", "--json", "--nproc-per-node", "4", "--set", "training.lr=1e-5"], { cwd });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out); // throws if anything else is on stdout
    expect(r.out.trim().split("\n").length).toBe(1);
    expect(doc.config.training.lr).toBe(1e-5);
    expect(doc.config.training.save_all_checkpoints).toBe(true);
    expect(doc.config.training.output_dir).toBe(join(cwd, "out/food101_no_eval"));
    expect(doc.config.model.num_labels).toBe(101);
    expect(Array.isArray(doc.overrides)).toBe(true);
    for (const row of doc.overrides) for (const key of ["path", "requested", "value", "source", "reason"]) expect(row).toHaveProperty(key);
    const forced = doc.overrides.find((o: any) => o.path === "training.save_all_checkpoints");
    expect(forced).toMatchObject({ requested: true, value: true, source: "file" });
    expect(doc.command.slice(1, 6)).toEqual(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4"]);
    expect(doc.command).toContain("qc_engine.train");
    expect(readdirSync(cwd)).toEqual([]);
  });

  test("no --config: the embedded demo, resolved from the repo whatever the cwd", () => {
    const cwd = mkdtempSync(join(tmpdir(), "qc-demo-"));
    const r = train(["--dry-run", "--json"], { cwd });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.source_file).toBe(join(ROOT, "configs/demo.yaml"));
    expect(doc.config.model.pretrained_name).toBe(join(cwd, ".cache/demo/tiny-qwen2.5-vl"));
    expect(doc.config.demo.build_tiny_model).toBe(true);
    expect(doc.overrides).toEqual([]);
    expect(readdirSync(cwd)).toEqual([]);
  });

  test("several nodes: rendezvous flags in the command; bad launch flags exit 2", () => {
    const r = train(["--dry-run", "--json", "--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", "h0:29500", "--nproc-per-node", "8", "--rdzv-timeout", "30"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    const cmd: string[] = doc.command;
    expect(cmd.join(" ")).toContain("--nnodes 2 --node-rank 1 --rdzv-backend c10d --rdzv-endpoint h0:29500 --rdzv-id qwen-classify --rdzv-conf join_timeout=30");
    expect(cmd.slice(-2)).toEqual(["--config-hash", doc.config_hash]);
    expect(train(["--dry-run", "--nnodes", "2"]).code).toBe(2);
    const lone = train(["--dry-run", "--rdzv-timeout", "30"]);
    expect(lone.code).toBe(2);
    expect(lone.err).toContain("--rdzv-timeout is for several nodes only: add --nnodes N (N > 1), or drop --rdzv-timeout");
    expect(train(["--dry-run", "--nproc-per-node", "zero"]).err).toContain("--nproc-per-node");
  });

  test("GPUs from CUDA_VISIBLE_DEVICES set the default process count and bf16", () => {
    const r = train(["--config", join(ROOT, "configs/food101.yaml"), "--dry-run", "--json"], { env: { CUDA_VISIBLE_DEVICES: "0,1,2" } });
    const doc = JSON.parse(r.out);
    expect(doc.command[doc.command.indexOf("--nproc-per-node") + 1]).toBe("3");
    expect(doc.ds_config.bf16.enabled).toBe(true);
    expect(doc.env.DS_ACCELERATOR).toBeUndefined();
  });

  test("memory: --dry-run --json carries the estimate and --plan; a run that cannot fit is refused (exit 2) before anything is written", () => {
    const cwd = mkdtempSync(join(tmpdir(), "qc-dry-"));
    const model = join(cwd, "m7b");
    mkdirSync(model);
    copyFileSync(join(ROOT, "test/fixtures/qwen2_5_vl_7b_config.json"), join(model, "config.json"));
    // The data the config names exists (the input check comes first), so the memory check is what refuses.
    const data = join(cwd, "data/food101");
    mkdirSync(data, { recursive: true });
    const classes = Array.from({ length: 101 }, (_, i) => `class_${i}`);
    writeFileSync(join(data, "labels.json"), JSON.stringify(classes));
    for (const f of ["train.jsonl", "test.jsonl"]) writeFileSync(join(data, f), JSON.stringify({ image: "a.jpg", label: "class_0" }) + "\n");
    const args = ["--config", join(ROOT, "configs/food101.yaml"), "--set", `model.pretrained_name=${model}`, "--set", "deepspeed.zero_stage=0", "--gpu-memory", "24GiB"];
    const r = train([...args, "--dry-run", "--json", "--plan"], { cwd });
    expect(r.code).toBe(0);
    const mem = JSON.parse(r.out).memory;
    expect(mem.fits).toBe(false);
    expect(mem.total_bytes).toBeGreaterThan(100 * 1024 ** 3);
    expect(mem.parts.map((p: { key: string }) => p.key)).toEqual(["weights", "gradients", "optimizer", "lora", "activations", "deepspeed_buffers", "runtime"]);
    expect(mem.plan.lora[0].gpus).toBe(1);
    const launch = train([...args, "--allow-low-disk", "--set", `training.output_dir=${join(cwd, "out")}`], { cwd });
    expect(launch.code).toBe(2);
    expect(launch.err).toContain("DOES NOT FIT");
    expect(launch.err).toContain("--set model.lora.enabled=true");
    expect(launch.err).toContain("--allow-oom-risk");
    expect(readdirSync(cwd).sort()).toEqual(["data", "m7b"]);
  });

  test("--help lists the flags and every config option from the schema", () => {
    const r = train(["--help"]);
    expect(r.code).toBe(0);
    for (const s of ["--dry-run", "--set PATH=VALUE", "--nproc-per-node", "training.skip_evaluation", "loss.smoothing", "datasets.dataset_configs.<name>.num_classes", "default 1e-5".replace("1e-5", "0.00001")]) expect(r.out).toContain(s);
  });

  test("scripts/train_no_eval_save_all.sh counts GPUs and passes extra args through", () => {
    const p = Bun.spawnSync(["bash", join(ROOT, "scripts/train_no_eval_save_all.sh"), "--dry-run", "--json", "--set", "training.epochs=1"], {
      env: { ...process.env, CUDA_VISIBLE_DEVICES: "2,5", PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}` },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(p.exitCode).toBe(0);
    const doc = JSON.parse(p.stdout.toString());
    expect(doc.config.training.epochs).toBe(1);
    expect(doc.config.training.skip_evaluation).toBe(true);
    expect(doc.command[doc.command.indexOf("--nproc-per-node") + 1]).toBe("2");
  });
});
