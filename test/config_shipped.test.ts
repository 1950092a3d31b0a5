// Every shipped config validates; generated/ is fresh (and the check can fail).
import { describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, basename } from "node:path";
import { Glob } from "bun";
import { resolveConfig } from "../lib/config/resolve.ts";
import { defaultPolicy, planRetention } from "../lib/checkpoints/retention.ts";
import type { CheckpointInfo } from "../lib/checkpoints/scan.ts";

/** A complete checkpoint with its DeepSpeed state and hf_model/, as planRetention sees it. */
const fakeCheckpoint = (step: number): CheckpointInfo =>
  ({
    name: `checkpoint-${step}`, path: `/out/checkpoint-${step}`, step, complete: true,
    info: { step, has_deepspeed_state: true, has_hf_model: true, slim: false, bytes: { deepspeed: 10, hf_model: 5, total: 15 } },
  }) as unknown as CheckpointInfo;

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const shipped = [...new Glob("configs/*.yaml").scanSync({ cwd: ROOT })].sort();

describe("shipped configs", () => {
  test("the three documented configs are there", () => {
    expect(shipped.map((p) => basename(p))).toEqual(expect.arrayContaining(["demo.yaml", "food101.yaml", "food101_no_eval_save_all.yaml"]));
  });
  for (const rel of shipped) {
    test(`${rel} validates, starts with the schema line and names its command`, () => {
      const text = readFileSync(join(ROOT, rel), "utf8");
      expect(text.split("\n")[0]).toBe("# yaml-language-server: $schema=../schema/config.schema.json");
      expect(text).toMatch(/bun run tasks\/train\.ts|scripts\/train_no_eval_save_all\.sh/);
      const r = resolveConfig({ configPath: join(ROOT, rel), cwd: ROOT });
      expect(r.configHash).toMatch(/^[0-9a-f]{64}$/);
    });
  }
  test("food101_no_eval_save_all.yaml: the seed's settings", () => {
    const { config, warnings } = resolveConfig({ configPath: join(ROOT, "configs/food101_no_eval_save_all.yaml"), cwd: ROOT });
    expect(config.model.pretrained_name).toContain("Qwen2.5-VL-7B-Instruct");
    expect(config.model.num_labels).toBe(101);
    expect(config.loss).toEqual({ type: "label_smoothing", smoothing: 0.1 });
    expect(config.training.epochs).toBe(5);
    expect(config.training.lr).toBe(5e-6);
    expect(config.training.save_steps).toBe(200);
    expect(config.training.skip_evaluation).toBe(true);
    expect(config.training.save_all_checkpoints).toBe(true);
    // The seed: every checkpoint keeps deepspeed/ (resumable), hf_model/ and training_info.json.
    expect(config.training.checkpoint.keep_optimizer_states).toBe(0);
    expect(config.training.checkpoint.hf_format).toBe("every_save");
    expect(config.training.checkpoint.retention).toBe("all");
    expect(defaultPolicy(config)).toBe("all");
    const plan = planRetention({
      checkpoints: [200, 400, 600, 800].map((step) => fakeCheckpoint(step)),
      policy: defaultPolicy(config),
      slimKeep: config.training.checkpoint.keep_optimizer_states,
    });
    expect(plan.rows.map((r) => r.action)).toEqual(["keep", "keep", "keep", "keep"]);
    expect(warnings).toEqual([]); // the file does not contradict its own forced values
  });
  test("generated/reference.yaml validates and equals the schema defaults, with every option described", () => {
    const text = readFileSync(join(ROOT, "generated/reference.yaml"), "utf8");
    const fromReference = resolveConfig({ configPath: join(ROOT, "generated/reference.yaml"), cwd: ROOT });
    const empty = join(mkdtempSync(join(tmpdir(), "qc-ref-")), "empty.yaml");
    writeFileSync(empty, "{}\n");
    const fromDefaults = resolveConfig({ configPath: empty, cwd: ROOT });
    expect(fromReference.config).toEqual(fromDefaults.config);
    // each top-level description from the schema appears as a comment
    const schema = JSON.parse(readFileSync(join(ROOT, "schema/config.schema.json"), "utf8"));
    for (const section of Object.values<any>(schema.properties)) {
      expect(text).toContain(`# ${section.description.split(" ").slice(0, 5).join(" ")}`);
    }
  });
  test("food101.yaml: standard mode", () => {
    const { config, overrides } = resolveConfig({ configPath: join(ROOT, "configs/food101.yaml"), cwd: ROOT });
    expect(config.training.skip_evaluation).toBe(false);
    expect(config.training.evaluation.partial_eval_during_training).toBe(true);
    expect(config.training.best_model_tracking.enabled).toBe(true);
    expect(config.training.evaluation.full_eval_at_end).toBe(true);
    expect(overrides).toEqual([]);
  });
});

describe("codegen", () => {
  test("bun run codegen --check passes on the repo", () => {
    const p = Bun.spawnSync([BUN, "run", "codegen", "--check"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    expect(p.stderr.toString()).not.toContain("stale");
    expect(p.exitCode).toBe(0);
  });
  test("--check exits 1 with a clear message when the schema changed, and writes nothing", () => {
    const tmp = mkdtempSync(join(tmpdir(), "qc-codegen-"));
    mkdirSync(join(tmp, "schema"));
    cpSync(join(ROOT, "generated"), join(tmp, "generated"), { recursive: true });
    cpSync(join(ROOT, "schema/events.schema.json"), join(tmp, "schema/events.schema.json"));
    const schema = JSON.parse(readFileSync(join(ROOT, "schema/config.schema.json"), "utf8"));
    schema.properties.training.properties.eval_steps.description = "changed";
    writeFileSync(join(tmp, "schema/config.schema.json"), JSON.stringify(schema));
    const before = readFileSync(join(tmp, "generated/options.ts"), "utf8");
    const p = Bun.spawnSync([BUN, join(ROOT, "scripts/codegen.ts"), "--check", "--root", tmp], { stdout: "pipe", stderr: "pipe" });
    expect(p.exitCode).toBe(1);
    expect(p.stderr.toString()).toContain("generated/ is stale");
    expect(p.stderr.toString()).toContain("generated/options.ts");
    expect(p.stderr.toString()).toContain("bun run codegen");
    expect(readFileSync(join(tmp, "generated/options.ts"), "utf8")).toBe(before);
    // and a plain run regenerates exactly what --check then accepts
    expect(Bun.spawnSync([BUN, join(ROOT, "scripts/codegen.ts"), "--root", tmp]).exitCode).toBe(0);
    expect(Bun.spawnSync([BUN, join(ROOT, "scripts/codegen.ts"), "--check", "--root", tmp]).exitCode).toBe(0);
  });
});
