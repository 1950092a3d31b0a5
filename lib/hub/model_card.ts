// README.md (model card) for a pushed checkpoint: YAML front matter the Hub reads, evaluation
// results, the training settings that matter (override report included) and how to load it.
import { modelSourceOf } from "./model_source.ts";
import { dump } from "js-yaml";
import type { EvalEntry, TrainingInfo } from "../checkpoints/scan.ts";

/** OUT/resolved_config.json (docs/architecture.md), read defensively: any field may be missing. */
export interface ResolvedConfigFile {
  config?: Record<string, any>;
  overrides?: OverrideRecord[];
  config_hash?: string;
  [extra: string]: unknown;
}

export interface OverrideRecord {
  path: string;
  requested?: unknown;
  value?: unknown;
  source?: string;
  reason?: string;
  kind?: "forced" | "ignored" | string;
}

export interface ModelCardParams {
  /** namespace/name */
  repoId: string;
  /** Branch the card is pushed to: the load snippet uses it as revision= (omitted for main). */
  revision?: string;
  checkpointName: string;
  step: number;
  info: TrainingInfo | null;
  evalResults: Record<string, EvalEntry> | null;
  resolved: ResolvedConfigFile | null;
  /** hf_model/config.json */
  hfConfig?: Record<string, any> | null;
  /** Why this checkpoint (e.g. "best by accuracy (full eval)"), shown in the card. */
  selection?: string;
}

const METRIC_TYPES: Record<string, { type: string; name: string; args?: Record<string, string> }> = {
  accuracy: { type: "accuracy", name: "Accuracy" },
  top5_accuracy: { type: "top_5_accuracy", name: "Top-5 Accuracy" },
  macro_f1: { type: "f1", name: "Macro F1", args: { average: "macro" } },
  loss: { type: "loss", name: "Cross-entropy loss" },
};

/** Front-matter `metrics:` names (Hugging Face evaluate ids) for the metrics we report. */
const FRONT_MATTER_METRICS: Record<string, string> = { accuracy: "accuracy", top5_accuracy: "accuracy", macro_f1: "f1" };

const HUB_ID_RE = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/**
 * The Hub id of the base model, when it can be told: a Hub id as is, or a local folder named like
 * an official Qwen2.5-VL checkpoint (…/Qwen2.5-VL-7B-Instruct -> Qwen/Qwen2.5-VL-7B-Instruct).
 */
export function baseModelId(pretrainedName: string | undefined | null): string | null {
  if (!pretrainedName) return null;
  const name = pretrainedName.replace(/\/+$/, "");
  if (HUB_ID_RE.test(name) && !name.startsWith(".")) return name;
  const last = name.split("/").pop() ?? "";
  if (/^Qwen2(\.5)?-VL-[\w.-]+$/i.test(last)) return `Qwen/${last}`;
  return null;
}

function fmtNumber(v: unknown, digits = 4): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return v === undefined || v === null ? "—" : String(v);
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) < 1e-3) return Number(v.toPrecision(digits)).toExponential();
  return Number(v.toPrecision(digits)).toString();
}

function fmtValue(v: unknown): string {
  if (v === undefined) return "—";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

function mdCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** Eval entries worth reporting, best first: full evaluations, then others, newest first. */
export function orderedEvalEntries(evalResults: Record<string, EvalEntry> | null): EvalEntry[] {
  const entries = Object.values(evalResults ?? {}).filter((e) => e && typeof e === "object" && e.metrics);
  const rank = (e: EvalEntry) => (e.split === "full" ? 0 : e.split === "partial" ? 2 : 1);
  const time = (e: EvalEntry) => {
    const t = Date.parse(e.evaluated_at ?? "");
    return Number.isFinite(t) ? t : 0;
  };
  return entries.sort((a, b) => rank(a) - rank(b) || time(b) - time(a));
}

function datasetName(config: Record<string, any> | undefined): string {
  const d = config?.data?.dataset;
  if (typeof d === "string" && d) return d;
  const names = Object.keys(config?.datasets?.dataset_configs ?? {});
  return names.length === 1 ? names[0] : "";
}

function dataLabel(e: EvalEntry): string {
  return e.data ? e.data.split("/").pop()! : e.split;
}

export function buildFrontMatter(p: ModelCardParams): Record<string, unknown> {
  const config = p.resolved?.config;
  // A Hub-id run's resolved config points at the snapshot folder; model_source keeps the id.
  const base = modelSourceOf(p.resolved)?.repo_id ?? baseModelId(config?.model?.pretrained_name);
  const dataset = datasetName(config);
  const entries = orderedEvalEntries(p.evalResults);
  const metricNames = new Set<string>();
  for (const e of entries) {
    for (const [k, v] of Object.entries(e.metrics)) {
      if (typeof v === "number" && FRONT_MATTER_METRICS[k]) metricNames.add(FRONT_MATTER_METRICS[k]);
    }
  }
  const tags = ["image-classification", "qwen2_5_vl", "qwen-classify", "deepspeed"];
  if (dataset) tags.push(dataset);
  if (p.info?.lora) tags.push("lora", "peft");

  const fm: Record<string, unknown> = {
    library_name: "transformers",
    ...(base ? { base_model: base } : {}),
    pipeline_tag: "image-classification",
    tags,
  };
  if (metricNames.size) fm.metrics = [...metricNames];
  // model-index: the full evaluations when there are any, else what there is (partial ones).
  const indexed = entries.some((e) => e.split === "full") ? entries.filter((e) => e.split === "full") : entries;
  if (indexed.length) {
    const repoName = p.repoId.split("/").pop() ?? p.repoId;
    fm["model-index"] = [
      {
        name: repoName,
        results: indexed.map((e) => ({
          task: { type: "image-classification", name: "Image Classification" },
          dataset: {
            name: dataset || dataLabel(e),
            type: dataset || dataLabel(e),
            split: e.split === "full" ? "validation" : e.split === "partial" ? "validation (subset)" : e.split,
          },
          metrics: Object.entries(e.metrics)
            .filter(([k, v]) => typeof v === "number" && Number.isFinite(v) && METRIC_TYPES[k])
            .map(([k, v]) => ({
              type: METRIC_TYPES[k].type,
              value: v as number,
              name: METRIC_TYPES[k].name,
              ...(METRIC_TYPES[k].args ? { args: METRIC_TYPES[k].args } : {}),
            })),
        })),
      },
    ];
  }
  return fm;
}

/** Bookkeeping numbers an engine may put next to the metrics: not metrics. */
const NOT_METRICS = /^(num_samples|samples|seconds|.*_per_s(ec)?|step|epoch|time|.*_time)$/;

function evalTable(entries: EvalEntry[]): string[] {
  const metricKeys = ["accuracy", "top5_accuracy", "macro_f1", "loss"];
  const extra = [...new Set(entries.flatMap((e) => Object.keys(e.metrics)))].filter(
    (k) => !metricKeys.includes(k) && !NOT_METRICS.test(k) && entries.some((e) => typeof e.metrics[k] === "number"),
  );
  const keys = [...metricKeys.filter((k) => entries.some((e) => typeof e.metrics[k] === "number")), ...extra];
  const head = ["Evaluation", "Data", "Samples", "Step", ...keys.map((k) => METRIC_TYPES[k]?.name ?? k)];
  const rows = entries.map((e) => [
    e.split,
    mdCell(dataLabel(e)),
    fmtNumber(e.num_samples),
    fmtNumber(e.step),
    ...keys.map((k) => fmtNumber(e.metrics[k])),
  ]);
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)];
}

function settingsRows(p: ModelCardParams): [string, string][] {
  const c = p.resolved?.config ?? {};
  const t = c.training ?? {};
  const info = p.info;
  const rows: [string, string][] = [];
  const add = (k: string, v: unknown) => {
    if (v !== undefined && v !== null && v !== "") rows.push([k, typeof v === "number" ? fmtNumber(v, 6) : fmtValue(v)]);
  };
  const source = modelSourceOf(p.resolved);
  add("Base model", source ? `${source.repo_id} (revision ${source.revision}, commit ${source.commit})` : c.model?.pretrained_name);
  add("Data set", datasetName(c) || undefined);
  add("Classes", info?.num_labels ?? c.model?.num_labels);
  add("Checkpoint", `${p.checkpointName} (step ${p.step}${info ? `, epoch ${fmtNumber(info.epoch)}` : ""}${info?.is_final ? ", final" : ""}${info?.is_best ? ", best" : ""})`);
  add("Train loss at this step", info?.train_loss ?? undefined);
  add("Epochs", t.max_steps ? undefined : t.epochs);
  add("Max steps", t.max_steps || undefined);
  if (t.per_device_batch_size !== undefined) {
    const world = info?.world_size ?? 1;
    const accum = t.gradient_accumulation_steps ?? 1;
    add("Batch size", `${t.per_device_batch_size} per device × ${accum} accumulation × ${world} process(es) = ${t.per_device_batch_size * accum * world}`);
  }
  add("Learning rate", t.lr);
  add("Scheduler", t.lr_scheduler ? `${t.lr_scheduler}, ${t.warmup_steps ?? 0} warm-up steps` : undefined);
  add("Weight decay", t.weight_decay);
  add("Gradient clipping", t.max_grad_norm);
  add("Precision", info?.precision ?? t.precision);
  add("DeepSpeed ZeRO stage", info?.zero_stage ?? c.deepspeed?.zero_stage);
  add("Gradient checkpointing", t.gradient_checkpointing);
  add("Vision tower frozen", c.model?.freeze_vision_tower);
  add("Pooling", c.model?.pooling);
  add("Attention kernel", info?.attn_implementation ?? c.model?.attn_implementation);
  add("Batching", c.data?.batching);
  add("Loss", c.loss?.type === "label_smoothing" ? `label smoothing ${c.loss.smoothing}` : c.loss?.type);
  add("Image pixels", c.data?.image_min_pixels ? `${c.data.image_min_pixels} – ${c.data.image_max_pixels}` : undefined);
  add("Prompt", c.data?.prompt);
  add("Evaluation during training", t.skip_evaluation === undefined ? undefined : t.skip_evaluation ? "off (training.skip_evaluation)" : "on");
  add("Seed", t.seed);
  add("Config hash", p.resolved?.config_hash ?? info?.config_hash);
  return rows;
}

function loadSnippet(p: ModelCardParams): string {
  const rev = p.revision && p.revision !== "main" ? `, revision="${p.revision}"` : "";
  const prompt = p.resolved?.config?.data?.prompt ?? "What is shown in this image?";
  const top = [
    "probs = logits.softmax(-1)[0]",
    "top = probs.topk(min(5, probs.numel()))",
    "for p, i in zip(top.values.tolist(), top.indices.tolist()):",
    '    print(f"{model.config.id2label[i]}: {p:.3f}")',
  ];
  return [
    "```python",
    "import torch",
    "from PIL import Image",
    "from transformers import AutoModelForImageClassification, AutoProcessor",
    "",
    `repo = "${p.repoId}"`,
    `model = AutoModelForImageClassification.from_pretrained(repo${rev}, trust_remote_code=True).eval()`,
    `processor = AutoProcessor.from_pretrained(repo${rev}, trust_remote_code=True)`,
    "",
    "# The exact prompt the classifier was trained with (the processor expands <|image_pad|>).",
    "text = (",
    '    "<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n"',
    `    "<|im_start|>user\\n<|vision_start|><|image_pad|><|vision_end|>" + ${JSON.stringify(prompt)} + "<|im_end|>\\n"`,
    '    "<|im_start|>assistant\\n"',
    ")",
    'image = Image.open("photo.jpg").convert("RGB")',
    'inputs = processor(text=[text], images=[image], return_tensors="pt")',
    "with torch.no_grad():",
    "    logits = model(**inputs).logits",
    ...top,
    "```",
    "",
    "Qwen2.5-VL's `AutoProcessor` also loads a video processor, which needs `torchvision`. Without it, use the",
    "tokenizer and the image processor directly (same inputs, same logits):",
    "",
    "```python",
    "from transformers import AutoImageProcessor, AutoTokenizer",
    "",
    `tokenizer = AutoTokenizer.from_pretrained(repo${rev})`,
    `image_processor = AutoImageProcessor.from_pretrained(repo${rev})`,
    'vision = image_processor(images=[image], return_tensors="pt")',
    'n = int(vision["image_grid_thw"][0].prod()) // image_processor.merge_size**2  # visual tokens of this image',
    'inputs = {**tokenizer([text.replace("<|image_pad|>", "<|image_pad|>" * n)], return_tensors="pt"), **vision}',
    "with torch.no_grad():",
    "    logits = model(**inputs).logits",
    "```",
  ].join("\n");
}

export function renderModelCard(p: ModelCardParams): string {
  const fm = buildFrontMatter(p);
  const entries = orderedEvalEntries(p.evalResults);
  const repoName = p.repoId.split("/").pop() ?? p.repoId;
  const base = (fm.base_model as string | undefined) ?? p.resolved?.config?.model?.pretrained_name ?? "Qwen2.5-VL";
  const numLabels = p.info?.num_labels ?? p.hfConfig?.num_labels ?? p.resolved?.config?.model?.num_labels;
  const out: string[] = [];
  out.push("---", dump(fm, { lineWidth: -1, noRefs: true }).trimEnd(), "---", "");
  out.push(`# ${repoName}`, "");
  out.push(
    `${base} fine-tuned as an image classifier${numLabels ? ` over ${numLabels} classes` : ""} with ` +
      "qwen-classify (DeepSpeed): the Qwen2.5-VL backbone, the hidden state of the " +
      `${p.resolved?.config?.model?.pooling === "mean" ? "real tokens (mean)" : "last real token"} and a linear head.`,
    "",
  );
  const lora = p.info?.lora;
  if (lora) {
    out.push(
      `This is a **LoRA fine-tune** (peft; r=${lora.r}, alpha=${lora.alpha}, dropout=${lora.dropout}, adapters on ` +
        `${lora.target_modules.join(", ")}; vision tower ${lora.vision_tower}; the classification head trained fully) of ` +
        `\`${lora.base_model}\` at revision \`${lora.base_revision ?? "local folder, no Hub revision"}\`. ` +
        (lora.hf_model === "merged"
          ? "The weights here are the adapters MERGED into the base: load them like any full fine-tune."
          : "This revision holds the adapter alone (`adapter_config.json`, `adapter_model.safetensors`): load it with " +
            "`peft.PeftModel.from_pretrained(<the classifier built on the base model>, repo)`."),
      "",
    );
  }
  out.push(`This revision holds **${p.checkpointName}** (step ${p.step}${p.info?.is_final ? ", the final checkpoint" : ""}).` + (p.selection ? ` Chosen as: ${p.selection}.` : ""), "");

  out.push("## Evaluation results", "");
  if (entries.length) {
    out.push(...evalTable(entries), "");
    out.push("Accuracy and top-5 accuracy are fractions of the evaluated samples; macro F1 averages the per-class F1.", "");
  } else {
    out.push(
      "This checkpoint has not been evaluated" +
        (p.resolved?.config?.training?.skip_evaluation ? " (it was trained with `training.skip_evaluation: true`)" : "") +
        ". Evaluate it with `bun run tasks/evaluate.ts --checkpoint <path>` and push again to add the results here.",
      "",
    );
  }

  out.push("## Training", "");
  const rows = settingsRows(p);
  if (rows.length) {
    out.push("| Setting | Value |", "|---|---|", ...rows.map(([k, v]) => `| ${k} | ${mdCell(v)} |`), "");
  }
  const overrides = p.resolved?.overrides ?? [];
  out.push("### Forced and ignored settings", "");
  if (!p.resolved) {
    out.push("The run's resolved_config.json was not found, so the override report is not available.", "");
  } else if (!overrides.length) {
    out.push("None: every setting had the value asked for.", "");
  } else {
    out.push("| Setting | Asked | Used | Kind | Why |", "|---|---|---|---|---|");
    for (const o of overrides) {
      out.push(
        `| \`${o.path}\` | ${mdCell(fmtValue(o.requested))}${o.source ? ` (${o.source})` : ""} | ${mdCell(o.kind === "ignored" ? "ignored" : fmtValue(o.value))} | ${o.kind ?? ""} | ${mdCell(o.reason ?? "")} |`,
      );
    }
    out.push("");
  }

  const id2label = p.info?.id2label ?? p.hfConfig?.id2label;
  if (id2label && Object.keys(id2label).length) {
    const ids = Object.keys(id2label).sort((a, b) => Number(a) - Number(b));
    out.push("## Labels", "", "<details><summary>" + ids.length + " classes</summary>", "");
    out.push(ids.map((i) => `${i}: ${id2label[i]}`).join(", "), "", "</details>", "");
  }

  out.push("## How to use", "");
  out.push(
    "The model ships its own modelling code (`trust_remote_code=True`); it needs `transformers` and `torch`.",
    "",
  );
  out.push(loadSnippet(p), "");
  out.push("## Files", "");
  out.push(
    "- `config.json`, `model.safetensors`, processor and tokenizer files: the model in transformers format.",
    "- `training_info.json`: step, epoch, losses, world size, precision and versions of this checkpoint.",
    ...(p.evalResults ? ["- `eval_results.json`: every evaluation of this checkpoint (data, sample count, metrics)."] : []),
    "",
  );
  return out.join("\n");
}
