import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fabricateRun } from "../../test/hub_server.ts";
import { UserError } from "../util/errors.ts";
import { checkBranchName, checkRepoId, formatPlan, planPush } from "./plan.ts";

describe("planPush", () => {
  test("--checkpoint: hf_model/ files at the repo root, metadata, a README; no DeepSpeed state", () => {
    const run = fabricateRun([{ step: 10, evals: [["full", { accuracy: 0.7 }]] }]);
    mkdirSync(join(run, "checkpoint-10", "deepspeed"), { recursive: true });
    writeFileSync(join(run, "checkpoint-10", "deepspeed", "optim.pt"), "x");
    writeFileSync(join(run, "checkpoint-10", "hf_model", ".DS_Store"), "x");
    const plan = planPush({ mode: "checkpoint", path: join(run, "checkpoint-10"), repo: "me/m" });
    expect(plan.targets).toHaveLength(1);
    const t = plan.targets[0];
    expect(t.branch).toBe("main");
    expect(t.ownBranch).toBe(false);
    expect(t.files.map((f) => f.pathInRepo).sort()).toEqual(
      ["README.md", "config.json", "eval_results.json", "model.safetensors", "modeling_qwen_classifier.py", "preprocessor_config.json", "training_info.json"],
    );
    const weights = t.files.find((f) => f.pathInRepo === "model.safetensors")!;
    expect(weights.content).toEqual({ kind: "file", path: join(run, "checkpoint-10", "hf_model", "model.safetensors") });
    expect(weights.size).toBe(Bun.file(join(run, "checkpoint-10", "hf_model", "model.safetensors")).size);
    rmSync(run, { recursive: true });
  });

  test("--checkpoint refuses an incomplete checkpoint and one without hf_model/", () => {
    const run = fabricateRun([{ step: 10, complete: false }, { step: 20, hfModel: false }]);
    expect(() => planPush({ mode: "checkpoint", path: join(run, "checkpoint-10"), repo: "me/m" })).toThrow("not a complete checkpoint");
    let err: UserError | undefined;
    try {
      planPush({ mode: "checkpoint", path: join(run, "checkpoint-20"), repo: "me/m" });
    } catch (e) {
      err = e as UserError;
    }
    expect(err?.message).toContain("there is nothing loadable to push");
    expect(err?.hint).toContain("tasks/export.ts --checkpoint");
    rmSync(run, { recursive: true });
  });

  test("--all: the best (full eval) to main, every complete checkpoint to checkpoint-<step>", () => {
    const run = fabricateRun([
      { step: 10, evals: [["full", { accuracy: 0.6 }]] },
      { step: 20, evals: [["full", { accuracy: 0.9 }]] },
      { step: 30, evals: [["full", { accuracy: 0.8 }]], isFinal: true },
      { step: 40, complete: false },
    ]);
    const plan = planPush({ mode: "all", path: run, repo: "me/m" });
    expect(plan.targets.map((t) => [t.checkpointName, t.branch, t.ownBranch])).toEqual([
      ["checkpoint-20", "main", false],
      ["checkpoint-10", "checkpoint-10", true],
      ["checkpoint-20", "checkpoint-20", true],
      ["checkpoint-30", "checkpoint-30", true],
    ]);
    expect(plan.targets[0].reason).toContain("best by accuracy = 0.9");
    const best = planPush({ mode: "best", path: run, repo: "me/m", revision: "release" });
    expect(best.targets.map((t) => [t.checkpointName, t.branch])).toEqual([["checkpoint-20", "release"]]);
    rmSync(run, { recursive: true });
  });

  test("nothing evaluated: the final checkpoint goes to main; checkpoints without hf_model/ are skipped with a reason", () => {
    const run = fabricateRun([{ step: 10 }, { step: 20, hfModel: false }, { step: 30, isFinal: true }], { skipEvaluation: true });
    const plan = planPush({ mode: "all", path: run, repo: "me/m" });
    expect(plan.targets[0].checkpointName).toBe("checkpoint-30");
    expect(plan.targets[0].reason).toContain("final checkpoint");
    expect(plan.targets.slice(1).map((t) => t.branch)).toEqual(["checkpoint-10", "checkpoint-30"]);
    expect(plan.skipped.map((s) => s.name)).toEqual(["checkpoint-20"]);
    expect(plan.skipped[0].reason).toContain("tasks/export.ts");
    const text = formatPlan(plan, "http://hub");
    expect(text).toContain("checkpoint-30 -> branch main (nothing was evaluated: the final checkpoint)");
    expect(text).toContain("model.safetensors");
    expect(text).toContain("skipped checkpoint-20");
    rmSync(run, { recursive: true });
  });

  test("a better partial evaluation does not beat a full one; --create-pr only targets main", () => {
    const run = fabricateRun([
      { step: 10, evals: [["partial", { accuracy: 0.99 }]] },
      { step: 20, evals: [["full", { accuracy: 0.7 }]] },
    ]);
    const plan = planPush({ mode: "all", path: run, repo: "me/m", createPr: true });
    expect(plan.targets[0].checkpointName).toBe("checkpoint-20");
    expect(plan.targets.map((t) => t.createPr)).toEqual([true, false, false]);
    rmSync(run, { recursive: true });
  });

  test("--all on a checkpoint folder, bad repo ids and branch names are clear errors", () => {
    const run = fabricateRun([{ step: 10 }]);
    expect(() => planPush({ mode: "all", path: join(run, "checkpoint-10"), repo: "me/m" })).toThrow("is a checkpoint, not a run's output_dir");
    for (const bad of ["noslash", "a/b/c", "me/", "/x", "me/a b"]) expect(() => checkRepoId(bad)).toThrow(UserError);
    expect(checkRepoId("me/food101-qwen.v2")).toBe("me/food101-qwen.v2");
    for (const bad of ["", "a..b", "refs/pr/1", "a b", "x:y"]) expect(() => checkBranchName(bad)).toThrow(UserError);
    expect(checkBranchName("checkpoint-800")).toBe("checkpoint-800");
    rmSync(run, { recursive: true });
  });
});
