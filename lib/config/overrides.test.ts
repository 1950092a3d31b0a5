// The skip_evaluation contract (docs/architecture.md), table-driven through resolveConfig.
import { describe, expect, test } from "bun:test";
import { dump } from "js-yaml";
import { resolveConfig } from "./resolve.ts";
import { applyOverrides } from "./overrides.ts";
import { OVERRIDE_RULES } from "../../generated/overrides.ts";
import { getPath, setPath, type Obj } from "./paths.ts";

// Written out by hand from the contract, NOT read from the generated table, so that a wrong
// schema annotation fails here.
const FORCED_BY_SKIP: Record<string, boolean | string> = {
  "training.save_all_checkpoints": true,
  // retention during a no-eval run keeps everything, even when the user asked for a limit
  "training.checkpoint.retention": "all",
  "training.best_model_tracking.enabled": false,
  "training.best_model_tracking.save_best_only": false,
  "training.evaluation.partial_eval_during_training": false,
  "training.evaluation.full_eval_at_end": false,
  "training.evaluation.eval_best_model_only": false,
  "wandb.log_dataset_metrics": false,
};
const SCHEMA_DEFAULTS: Record<string, boolean | string> = {
  "training.save_all_checkpoints": false,
  "training.checkpoint.retention": "",
  "training.best_model_tracking.enabled": true,
  "training.best_model_tracking.save_best_only": false,
  "training.evaluation.partial_eval_during_training": true,
  "training.evaluation.full_eval_at_end": true,
  "training.evaluation.eval_best_model_only": true,
  "wandb.log_dataset_metrics": false,
};

function resolveWith(file: Obj, sets: string[] = []) {
  return resolveConfig({ configPath: "/virtual/c.yaml", cwd: "/virtual", sets, readFile: () => dump(file), exists: () => false });
}

test("the generated override table is exactly the contract", () => {
  const forced = OVERRIDE_RULES.filter((r) => r.kind === "forced");
  expect(Object.fromEntries(forced.map((r) => [r.path, r.value]))).toEqual(FORCED_BY_SKIP);
  for (const r of forced) expect(r.when).toEqual({ "training.skip_evaluation": true });
  expect(OVERRIDE_RULES.filter((r) => r.kind === "ignored").map((r) => r.path)).toEqual(["training.eval_steps"]);
});

type Setting = boolean | string;
// "absent": not set at all; strings: a value the user can write for that option.
const settingsFor = (path: string): Setting[] => (path === "training.checkpoint.retention" ? ["last:2", "all", "absent"] : [true, false, "absent"]);

describe("forcing rules: skip_evaluation x every forced option x file x command line", () => {
  for (const skip of [true, false]) {
    for (const path of Object.keys(FORCED_BY_SKIP)) {
      for (const inFile of settingsFor(path)) {
        for (const onCli of settingsFor(path)) {
          test(`skip=${skip} ${path} file=${inFile} cli=${onCli}`, () => {
            const file: Obj = { training: { skip_evaluation: skip } };
            if (inFile !== "absent") setPath(file, path, inFile);
            const sets = onCli !== "absent" ? [`${path}=${onCli}`] : [];
            const r = resolveWith(file, sets);
            const asked = onCli !== "absent" ? onCli : inFile !== "absent" ? inFile : SCHEMA_DEFAULTS[path];
            const expected = skip ? FORCED_BY_SKIP[path] : asked;
            expect(getPath(r.config, path)).toBe(expected);

            const row = r.overrides.find((o) => o.path === path);
            const warned = r.warnings.some((w) => w.startsWith(`${path}:`));
            if (!skip) {
              expect(row).toBeUndefined();
              expect(warned).toBe(false);
              return;
            }
            expect(row).toBeDefined();
            expect(row!.kind).toBe("forced");
            expect(row!.requested).toBe(asked);
            expect(row!.value).toBe(FORCED_BY_SKIP[path]);
            expect(row!.source).toBe(onCli !== "absent" ? "cli" : inFile !== "absent" ? "file" : "default");
            expect(row!.reason).toContain("skip_evaluation");
            // An explicit value that lost is a warning; a default or an agreeing value is not.
            const explicit = onCli !== "absent" || inFile !== "absent";
            expect(warned).toBe(explicit && asked !== FORCED_BY_SKIP[path]);
          });
        }
      }
    }
  }
});

describe("skip_evaluation itself, from file or command line", () => {
  test("--set training.skip_evaluation=true beats a file that says false", () => {
    const r = resolveWith({ training: { skip_evaluation: false, save_all_checkpoints: false } }, ["training.skip_evaluation=true"]);
    expect(r.config.training.skip_evaluation).toBe(true);
    expect(r.config.training.save_all_checkpoints).toBe(true);
    expect(r.config.training.evaluation.full_eval_at_end).toBe(false);
  });
  test("--set training.skip_evaluation=false turns the no-eval file back to standard mode", () => {
    const r = resolveWith({ training: { skip_evaluation: true, save_all_checkpoints: true } }, ["training.skip_evaluation=false"]);
    expect(r.overrides).toEqual([]);
    expect(r.config.training.save_all_checkpoints).toBe(true); // as the file asked: evaluation on, every checkpoint kept
    expect(r.config.training.evaluation.partial_eval_during_training).toBe(true);
    expect(r.config.training.best_model_tracking.enabled).toBe(true);
  });
  test("save_all_checkpoints without skip keeps evaluation", () => {
    const r = resolveWith({ training: { save_all_checkpoints: true } });
    expect(r.config.training.save_all_checkpoints).toBe(true);
    expect(r.config.training.evaluation.partial_eval_during_training).toBe(true);
    expect(r.config.training.evaluation.full_eval_at_end).toBe(true);
  });
});

describe("retention under skip_evaluation (issue 11)", () => {
  test("--set training.checkpoint.retention=last:2 on a no-eval run: all is used, reported and warned", () => {
    const r = resolveWith({ training: { skip_evaluation: true } }, ["training.checkpoint.retention=last:2"]);
    expect(r.config.training.checkpoint.retention).toBe("all");
    const row = r.overrides.find((o) => o.path === "training.checkpoint.retention")!;
    expect(row).toMatchObject({ requested: "last:2", value: "all", source: "cli", kind: "forced" });
    const w = r.warnings.find((x) => x.startsWith("training.checkpoint.retention:"));
    expect(w).toContain('you set "last:2" (--set training.checkpoint.retention=last:2) but "all" is used');
    expect(w).toContain("tasks/prune.ts");
  });
  test("standard mode keeps an explicit retention", () => {
    const r = resolveWith({ training: { checkpoint: { retention: "last:2" } } });
    expect(r.config.training.checkpoint.retention).toBe("last:2");
    expect(r.overrides.find((o) => o.path === "training.checkpoint.retention")).toBeUndefined();
  });
});

describe("keep_optimizer_states under skip_evaluation is reported (checkpoints that stop being resumable)", () => {
  test("a warning names the option and what the older checkpoints lose", () => {
    const r = resolveWith({ training: { skip_evaluation: true, max_steps: 1000, save_steps: 200, checkpoint: { keep_optimizer_states: 2 } } });
    const w = r.warnings.find((x) => x.startsWith("training.checkpoint.keep_optimizer_states:"));
    expect(w).toBeDefined();
    // 5 saves (200..1000): all but the newest 2 lose deepspeed/
    expect(w).toContain("checkpoint-200, checkpoint-400, checkpoint-600");
    expect(w).not.toContain("checkpoint-800");
    expect(w).toContain("cannot be resumed");
  });
  test("no warning with 0 (every checkpoint resumable) or in standard mode", () => {
    expect(resolveWith({ training: { skip_evaluation: true } }).warnings.some((x) => x.includes("keep_optimizer_states"))).toBe(false);
    expect(resolveWith({ training: { checkpoint: { keep_optimizer_states: 2 } } }).warnings.some((x) => x.includes("keep_optimizer_states"))).toBe(false);
  });
});

describe("data.batching: packed with a mask-based attention kernel is allowed, with a warning", () => {
  test("sdpa and eager are warned about, flash_attention_2 and auto are not", () => {
    for (const attn of ["sdpa", "eager"]) {
      const w = resolveWith({ data: { batching: "packed" }, model: { attn_implementation: attn } }).warnings.find((x) => x.startsWith("data.batching: packed"));
      expect(w).toContain(`model.attn_implementation: ${attn}`);
      expect(w).toContain("block-diagonal mask");
    }
    for (const attn of ["flash_attention_2", "auto"]) {
      expect(resolveWith({ data: { batching: "packed" }, model: { attn_implementation: attn } }).warnings.some((x) => x.startsWith("data.batching"))).toBe(false);
    }
    expect(resolveWith({ data: { batching: "padded" }, model: { attn_implementation: "sdpa" } }).warnings.some((x) => x.startsWith("data.batching"))).toBe(false);
  });
});

describe("eval_steps is ignored (not changed) under skip_evaluation", () => {
  for (const [label, file, sets, source] of [
    ["default", {}, [], "default"],
    ["file", { training: { eval_steps: 50 } }, [], "file"],
    ["cli", { training: { eval_steps: 50 } }, ["training.eval_steps=70"], "cli"],
  ] as const) {
    test(`from ${label}`, () => {
      const f = structuredClone(file) as Obj;
      setPath(f, "training.skip_evaluation", true);
      const r = resolveWith(f, [...sets]);
      const row = r.overrides.find((o) => o.path === "training.eval_steps")!;
      expect(row.kind).toBe("ignored");
      expect(row.source).toBe(source);
      const expected = label === "cli" ? 70 : label === "file" ? 50 : 200;
      expect(row.requested).toBe(expected);
      expect(r.config.training.eval_steps).toBe(expected);
      expect(r.warnings.some((w) => w.startsWith("training.eval_steps:") && w.includes("ignored"))).toBe(label !== "default");
    });
  }
  test("not reported without skip_evaluation", () => {
    const r = resolveWith({ training: { eval_steps: 50 } });
    expect(r.overrides.find((o) => o.path === "training.eval_steps")).toBeUndefined();
  });
});

describe("applyOverrides with a custom table", () => {
  const rules = [
    { path: "a.x", when: { "a.on": true }, value: 1, priority: 10, reason: "low", kind: "forced" as const },
    { path: "a.x", when: { "a.on": true }, value: 2, priority: 50, reason: "high", kind: "forced" as const },
    { path: "a.y", when: { "a.x": 2 }, value: "chained", priority: 1, reason: "chain", kind: "forced" as const },
  ];
  test("the highest priority wins, and a forced value can trigger another rule", () => {
    const config: Obj = { a: { on: true, x: 0, y: "n" } };
    const { rows } = applyOverrides({ config, rules, sourceOf: () => "file" });
    expect(getPath(config, "a.x")).toBe(2);
    expect(getPath(config, "a.y")).toBe("chained");
    expect(rows.find((r) => r.path === "a.x")!.reason).toBe("high");
    expect(rows.find((r) => r.path === "a.x")!.requested).toBe(0);
  });
  test("no rule applies when the condition is false", () => {
    const config: Obj = { a: { on: false, x: 0, y: "n" } };
    expect(applyOverrides({ config, rules, sourceOf: () => "file" }).rows).toEqual([]);
    expect(config).toEqual({ a: { on: false, x: 0, y: "n" } });
  });
});
