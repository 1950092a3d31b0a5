// Checks that involve more than one option; same problem format as schema errors.
import { closest } from "./didyoumean.ts";
import { getPath, isObject } from "./paths.ts";
import type { ConfigProblem } from "./problems.ts";

/** Which dataset entry the run uses: data.dataset, else the only entry; null when none or ambiguous. */
export function selectDataset(config: unknown): { name: string | null; problem?: Omit<ConfigProblem, "file" | "line"> } {
  const entries = getPath(config, "datasets.dataset_configs");
  const names = isObject(entries) ? Object.keys(entries) : [];
  const chosen = getPath(config, "data.dataset");
  if (typeof chosen === "string" && chosen !== "") {
    if (names.includes(chosen)) return { name: chosen };
    const suggestion = closest(chosen, names);
    return {
      name: null,
      problem: {
        path: "data.dataset",
        message: `names "${chosen}", which is not in datasets.dataset_configs${names.length ? ` (entries: ${names.join(", ")})` : " (it has no entries)"}${suggestion ? ` — did you mean "${suggestion}"?` : ""}`,
        fix: names.length ? `set data.dataset to one of ${names.join(", ")}, or add an entry "${chosen}:" with num_classes under datasets.dataset_configs` : `add datasets.dataset_configs.${chosen}.num_classes, or set data.dataset: ""`,
      },
    };
  }
  if (names.length === 1) return { name: names[0] };
  if (names.length > 1) {
    return {
      name: null,
      problem: { path: "data.dataset", message: `is empty but datasets.dataset_configs has ${names.length} entries (${names.join(", ")})`, fix: `set data.dataset to the one this run uses, e.g. data.dataset: ${names[0]}` },
    };
  }
  return { name: null };
}

export function crossCheck(config: unknown): Omit<ConfigProblem, "file" | "line">[] {
  const problems: Omit<ConfigProblem, "file" | "line">[] = [];
  const get = (p: string) => getPath(config, p);

  const { name, problem } = selectDataset(config);
  if (problem) problems.push(problem);
  if (name) {
    const numClasses = get(`datasets.dataset_configs.${name}.num_classes`);
    const numLabels = get("model.num_labels");
    if (typeof numClasses === "number" && typeof numLabels === "number" && numClasses !== numLabels) {
      problems.push({
        path: "model.num_labels",
        message: `is ${numLabels} but datasets.dataset_configs.${name}.num_classes is ${numClasses}`,
        fix: `make them equal: model.num_labels: ${numClasses} (or correct num_classes of "${name}")`,
      });
    }
    const classNames = get(`datasets.dataset_configs.${name}.class_names`);
    if (Array.isArray(classNames) && typeof numClasses === "number" && classNames.length !== numClasses) {
      problems.push({
        path: `datasets.dataset_configs.${name}.class_names`,
        message: `has ${classNames.length} names but num_classes is ${numClasses}`,
        fix: `list exactly ${numClasses} class names in label-id order, or remove class_names`,
      });
    }
  }

  const stage = get("deepspeed.zero_stage");
  if (get("deepspeed.offload_param") === true && typeof stage === "number" && stage !== 3) {
    problems.push({ path: "deepspeed.offload_param", message: `needs ZeRO stage 3, but deepspeed.zero_stage is ${stage}`, fix: `set deepspeed.zero_stage: 3, or deepspeed.offload_param: false` });
  }
  if (get("deepspeed.offload_optimizer") === true && stage === 0) {
    problems.push({ path: "deepspeed.offload_optimizer", message: `needs ZeRO stage 1, 2 or 3, but deepspeed.zero_stage is 0`, fix: `set deepspeed.zero_stage: 2, or deepspeed.offload_optimizer: false` });
  }

  const minPixels = get("data.image_min_pixels");
  const maxPixels = get("data.image_max_pixels");
  if (typeof minPixels === "number" && typeof maxPixels === "number" && minPixels > maxPixels) {
    problems.push({ path: "data.image_min_pixels", message: `(${minPixels}) is larger than data.image_max_pixels (${maxPixels})`, fix: `make data.image_min_pixels <= data.image_max_pixels` });
  }

  const push = get("hub.push");
  if (typeof push === "string" && push !== "none" && !get("hub.repo_id")) {
    problems.push({ path: "hub.repo_id", message: `is empty but hub.push is "${push}"`, fix: `set hub.repo_id: namespace/name, or hub.push: none` });
  }
  const repoId = get("hub.repo_id");
  if (typeof repoId === "string" && repoId !== "" && !/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(repoId)) {
    problems.push({ path: "hub.repo_id", message: `"${repoId}" is not of the form namespace/name`, fix: `write it like me/food101-qwen` });
  }
  return problems;
}

/** Soft findings: allowed, but probably not what was meant. */
export function crossWarnings(config: unknown): string[] {
  const warnings: string[] = [];
  const metric = getPath(config, "training.best_model_tracking.metric");
  const greater = getPath(config, "training.best_model_tracking.greater_is_better");
  if (metric === "loss" && greater === true) warnings.push(`training.best_model_tracking: metric is loss but greater_is_better is true (the highest loss would count as best)`);
  if (metric !== "loss" && typeof metric === "string" && greater === false) warnings.push(`training.best_model_tracking: metric is ${metric} but greater_is_better is false (the lowest ${metric} would count as best)`);
  const attn = getPath(config, "model.attn_implementation");
  if (getPath(config, "data.batching") === "packed" && (attn === "sdpa" || attn === "eager")) {
    warnings.push(`data.batching: packed with model.attn_implementation: ${attn} keeps samples apart with a block-diagonal mask over the whole packed row ` +
      `(correct, but attention computes the square of the packed length); flash_attention_2 (or auto where flash-attn is installed) runs the variable-length kernel`);
  }
  const keep = getPath(config, "training.checkpoint.keep_optimizer_states");
  if (getPath(config, "training.skip_evaluation") === true && typeof keep === "number" && keep > 0) {
    warnings.push(`training.checkpoint.keep_optimizer_states: ${keep} under training.skip_evaluation: ${slimmedCheckpoints(config, keep)} lose deepspeed/ ` +
      `(they keep hf_model/ and training_info.json: evaluable, exportable, but they cannot be resumed); set it to 0 to keep every checkpoint resumable`);
  }
  return warnings;
}

/** Which checkpoints keep_optimizer_states slims, by name when the schedule is known (max_steps). */
function slimmedCheckpoints(config: unknown, keep: number): string {
  const maxSteps = getPath(config, "training.max_steps");
  const saveSteps = getPath(config, "training.save_steps");
  if (typeof maxSteps !== "number" || maxSteps <= 0 || typeof saveSteps !== "number") return `every checkpoint except the newest ${keep}`;
  const steps: number[] = [];
  for (let s = saveSteps; s < maxSteps; s += saveSteps) steps.push(s);
  steps.push(maxSteps); // the final save
  const slimmed = steps.slice(0, Math.max(0, steps.length - keep));
  if (slimmed.length === 0) return `no checkpoint (${steps.length} saves, the newest ${keep} keep it)`;
  const names = slimmed.map((s) => `checkpoint-${s}`);
  return `${names.length} of ${steps.length} checkpoints (${names.length > 8 ? [...names.slice(0, 6), "…", names.at(-1)].join(", ") : names.join(", ")})`;
}
