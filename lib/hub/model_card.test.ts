import { describe, expect, test } from "bun:test";
import { load } from "js-yaml";
import type { EvalEntry, TrainingInfo } from "../checkpoints/scan.ts";
import { baseModelId, renderModelCard, type ModelCardParams, type ResolvedConfigFile } from "./model_card.ts";

function frontMatter(card: string): Record<string, any> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
  expect(m).not.toBeNull();
  return load(m![1]) as Record<string, any>;
}

const info = {
  step: 800, epoch: 2, train_loss: 0.31, is_final: true, is_best: true, world_size: 4, zero_stage: 3, precision: "bf16",
  num_labels: 3, id2label: { "0": "apple", "1": "banana", "2": "cherry" }, config_hash: "h",
  attn_implementation: "flash_attention_2",
} as unknown as TrainingInfo;

const resolved: ResolvedConfigFile = {
  config: {
    model: { pretrained_name: "/models/Qwen2.5-VL-7B-Instruct", pooling: "last_token" },
    data: { dataset: "food101", prompt: "What dish is this?" },
    training: { per_device_batch_size: 2, gradient_accumulation_steps: 8, lr: 1e-5, lr_scheduler: "cosine", warmup_steps: 100, skip_evaluation: true },
  },
  overrides: [
    { path: "training.save_all_checkpoints", requested: false, value: true, source: "file", reason: "skip_evaluation keeps every checkpoint", kind: "forced" },
    { path: "training.eval_steps", requested: 200, value: 200, source: "default", reason: "no evaluation runs during training", kind: "ignored" },
  ],
  config_hash: "abc123",
};

const evals: Record<string, EvalEntry> = {
  a: { split: "partial", data: "/d/val.jsonl", data_sha256: "x", num_samples: 500, step: 800, metrics: { accuracy: 0.5 }, evaluated_at: "2026-01-01T00:00:00Z" },
  b: { split: "full", data: "/d/val.jsonl", data_sha256: "x", num_samples: 25250, step: 800, metrics: { accuracy: 0.9123, top5_accuracy: 0.987, macro_f1: 0.9051, loss: 0.33 }, evaluated_at: "2026-01-02T00:00:00Z" },
};

const params = (over: Partial<ModelCardParams> = {}): ModelCardParams => ({
  repoId: "me/food101-qwen", revision: "main", checkpointName: "checkpoint-800", step: 800, info, evalResults: evals, resolved, ...over,
});

describe("renderModelCard", () => {
  test("front matter: library, base model, pipeline, tags, metrics and model-index with the full evaluation", () => {
    const fm = frontMatter(renderModelCard(params()));
    expect(fm.library_name).toBe("transformers");
    expect(fm.base_model).toBe("Qwen/Qwen2.5-VL-7B-Instruct");
    expect(fm.pipeline_tag).toBe("image-classification");
    expect(fm.tags).toContain("image-classification");
    expect(fm.tags).toContain("food101");
    expect(fm.metrics.sort()).toEqual(["accuracy", "f1"]);
    const results = fm["model-index"][0].results;
    expect(fm["model-index"][0].name).toBe("food101-qwen");
    expect(results).toHaveLength(1); // the partial one is left out when a full one exists
    expect(results[0].task.type).toBe("image-classification");
    expect(results[0].dataset).toEqual({ name: "food101", type: "food101", split: "validation" });
    const byName = Object.fromEntries(results[0].metrics.map((m: any) => [m.name, m]));
    expect(byName["Accuracy"]).toEqual({ type: "accuracy", value: 0.9123, name: "Accuracy" });
    expect(byName["Macro F1"].value).toBe(0.9051);
    expect(byName["Macro F1"].args).toEqual({ average: "macro" });
    expect(byName["Top-5 Accuracy"].value).toBe(0.987);
  });

  test("settings name the attention kernel the run used (training_info.json) and the batching", () => {
    const body = renderModelCard(params());
    expect(body).toMatch(/Attention kernel[^\n]*flash_attention_2/);
    const cfg = { ...resolved, config: { ...resolved.config, data: { ...resolved.config!.data, batching: "length_grouped" } } } as ResolvedConfigFile;
    expect(renderModelCard(params({ resolved: cfg }))).toMatch(/Batching[^\n]*length_grouped/);
  });

  test("body: results table, settings, override report, labels, load snippet with revision", () => {
    const card = renderModelCard(params({ revision: "checkpoint-800" }));
    expect(card).toContain("| full | val.jsonl | 25250 | 800 | 0.9123 | 0.987 | 0.9051 | 0.33 |");
    expect(card).toContain("| partial | val.jsonl | 500 | 800 | 0.5 |");
    expect(card).toContain("2 per device × 8 accumulation × 4 process(es) = 64");
    expect(card).toContain("| Learning rate | 1e-5 |");
    expect(card).toContain("| `training.save_all_checkpoints` | false (file) | true | forced | skip_evaluation keeps every checkpoint |");
    expect(card).toContain("| `training.eval_steps` | 200 (default) | ignored | ignored |");
    expect(card).toContain("0: apple, 1: banana, 2: cherry");
    expect(card).toContain("AutoModelForImageClassification.from_pretrained(repo, revision=\"checkpoint-800\", trust_remote_code=True)");
    expect(card).toContain("AutoProcessor.from_pretrained(repo, revision=\"checkpoint-800\", trust_remote_code=True)");
    expect(card).toContain('<|vision_start|><|image_pad|><|vision_end|>" + "What dish is this?" + "<|im_end|>');
    expect(card).toContain("AutoTokenizer.from_pretrained(repo, revision=\"checkpoint-800\")"); // the no-torchvision path
  });

  test("bookkeeping numbers next to the metrics (num_samples, seconds) are not shown as metrics", () => {
    const e = { ...evals.b, metrics: { ...evals.b.metrics, num_samples: 360, seconds: 0.38, ece: 0.05 } };
    const card = renderModelCard(params({ evalResults: { b: e } }));
    expect(card).toContain("| Evaluation | Data | Samples | Step | Accuracy | Top-5 Accuracy | Macro F1 | Cross-entropy loss | ece |");
    expect(card).not.toContain("| seconds");
  });

  test("not evaluated: no metrics, no model-index, and the card says how to evaluate", () => {
    const card = renderModelCard(params({ evalResults: null }));
    const fm = frontMatter(card);
    expect(fm.metrics).toBeUndefined();
    expect(fm["model-index"]).toBeUndefined();
    expect(card).toContain("has not been evaluated (it was trained with `training.skip_evaluation: true`)");
    expect(card).toContain("tasks/evaluate.ts");
  });

  test("only partial evaluations: they go to model-index, marked as a subset", () => {
    const fm = frontMatter(renderModelCard(params({ evalResults: { a: evals.a } })));
    expect(fm["model-index"][0].results[0].dataset.split).toBe("validation (subset)");
    expect(fm["model-index"][0].results[0].metrics[0].value).toBe(0.5);
  });

  test("deterministic (a re-push of the same checkpoint sends no new card) and no resolved config handled", () => {
    expect(renderModelCard(params())).toBe(renderModelCard(params()));
    const card = renderModelCard(params({ resolved: null }));
    expect(frontMatter(card).base_model).toBeUndefined();
    expect(card).toContain("resolved_config.json was not found");
  });

  test("a LoRA checkpoint: tags lora/peft, the card says LoRA of which base revision, merged or adapter alone", () => {
    const lora = { r: 16, alpha: 32, dropout: 0.05, target_modules: ["q_proj", "v_proj"], vision_tower: "frozen" as const, adapter_dir: "adapter", hf_model: "merged" as const, base_model: "Qwen/Qwen2.5-VL-7B-Instruct", base_revision: "abc123" };
    const card = renderModelCard(params({ info: { ...info, lora } as TrainingInfo }));
    expect(frontMatter(card).tags).toContain("lora");
    expect(card).toContain("This is a **LoRA fine-tune** (peft; r=16, alpha=32, dropout=0.05, adapters on q_proj, v_proj; vision tower frozen; the classification head trained fully) of `Qwen/Qwen2.5-VL-7B-Instruct` at revision `abc123`. The weights here are the adapters MERGED");
    const adapterOnly = renderModelCard(params({ info: { ...info, lora: { ...lora, hf_model: "absent" as const } } as TrainingInfo }));
    expect(adapterOnly).toContain("This revision holds the adapter alone");
    expect(renderModelCard(params())).not.toContain("LoRA");
  });
});

describe("baseModelId", () => {
  test("Hub ids kept, official folder names mapped, other paths dropped", () => {
    expect(baseModelId("Qwen/Qwen2.5-VL-3B-Instruct")).toBe("Qwen/Qwen2.5-VL-3B-Instruct");
    expect(baseModelId("/models/Qwen2.5-VL-7B-Instruct/")).toBe("Qwen/Qwen2.5-VL-7B-Instruct");
    expect(baseModelId("/tmp/tiny-model")).toBeNull();
    expect(baseModelId("./local/model")).toBeNull();
    expect(baseModelId("")).toBeNull();
  });
});
