// Before launch: will the checkpoints this run keeps fit on the disk of output_dir?
// Sizes come from the model's parameter count (safetensors headers, no loading) and the
// run's dtype; counts from the schedule and the retention policy (lib/checkpoints/retention.ts).
import { existsSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import { defaultPolicy, parsePolicy } from "../checkpoints/retention.ts";
import { listCheckpoints } from "../checkpoints/scan.ts";
import { effectivePrecision, type EffectivePrecision } from "../config/deepspeed.ts";
import { UserError } from "../util/errors.ts";
import { dirBytes, formatBytes } from "../util/fs.ts";
import { countGpus } from "../util/gpus.ts";
import { countNonBlankLines } from "../util/lines.ts";
import { modelSize as readModelSize, type ModelSize } from "./model_size.ts";

/** Bytes per parameter of the DeepSpeed optimizer state: fp32 master copy (4) + Adam m and v (4 + 4). */
export const OPTIMIZER_BYTES_PER_PARAM = 12;

/** deepspeed/ files whose size does not scale with the model: zero_to_fp32.py, RNG states, "latest". */
export const DEEPSPEED_FIXED_BYTES = 64 * 1024;

/** training_info.json fields that every checkpoint carries: top:K:<these> ranks without evaluation. */
const ALWAYS_RECORDED = new Set(["train_loss", "grad_norm", "lr", "epoch", "step", "samples_seen", "wall_time_s"]);

export interface CheckpointSizes {
  /** hf_model/: weights in the run dtype + processor files (0 with hf_format=deferred). */
  hfModel: number;
  /** deepspeed/: module weights in the run dtype + fp32 master + Adam moments of the trainable parameters. */
  deepspeed: number;
  /** A checkpoint with its optimizer state. */
  full: number;
  /** A slimmed one (hf_model/ only). */
  slim: number;
}

export interface DiskPlan {
  policy: string;
  saves: number;
  /** Checkpoints the policy keeps at most once the run is over. */
  kept: number;
  /** On disk at once while a save lands (kept + the new one, before pruning). */
  peak: number;
  fullAtPeak: number;
  slimAtPeak: number;
  requiredBytes: number;
  why: string;
}

export interface Suggestion {
  /** `--set` arguments that apply it. */
  sets: string[];
  description: string;
  requiredBytes: number;
  fits: boolean;
}

export interface PreflightResult {
  /** The run fits (or nothing could be measured). */
  fits: boolean;
  /** It does not fit but --allow-low-disk let it through. */
  overridden: boolean;
  /** false when the model size is unknown: nothing was compared. */
  measured: boolean;
  model: ModelSize;
  trainableParams: number;
  dtype: EffectivePrecision;
  bytesPerParam: number;
  sizes: CheckpointSizes;
  totalSteps: number;
  stepsSource: string;
  plan: DiskPlan;
  /** Bytes of this run's checkpoints already in output_dir (counted as present when resuming). */
  existingBytes: number;
  /** Bytes still to be written at the peak. */
  neededBytes: number;
  freeBytes: number;
  /** The existing folder whose file system was measured. */
  freeAt: string;
  suggestions: Suggestion[];
  notes: string[];
  /** The human-readable summary (what tasks print). */
  text: string;
}

export interface PreflightParams {
  config: QwenClassifyConfig;
  allowLowDisk?: boolean;
  statfs?: typeof statfsSync;
  /** Optimizer steps of the run; default: training.max_steps, else from the training set size. */
  totalSteps?: number;
  /** Training samples (skips counting data.train_jsonl). */
  numTrainSamples?: number;
  /** Processes in the run; more processes mean fewer steps. Default 1 (the most checkpoints). */
  worldSize?: number;
  /** Decides precision=auto; default: GPUs are visible. */
  hasGpu?: boolean;
  /** The run resumes from output_dir: its checkpoints are already on disk. */
  resume?: boolean;
  /** Injected parameter count (tests); default: read from model.pretrained_name. */
  modelSize?: ModelSize;
  env?: Record<string, string | undefined>;
}

/** The nearest folder that exists: output_dir itself or a parent (statfs needs one). */
export function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

export function bytesPerParam(dtype: EffectivePrecision): number {
  return dtype === "fp32" ? 4 : 2;
}

/** Sizes of one checkpoint (see CheckpointSizes). */
export function checkpointSizes(params: {
  params: number;
  trainableParams: number;
  dtype: EffectivePrecision;
  extraFileBytes: number;
  deferred: boolean;
}): CheckpointSizes {
  const b = bytesPerParam(params.dtype);
  const hfModel = params.deferred ? 0 : params.params * b + params.extraFileBytes;
  const deepspeed = params.params * b + params.trainableParams * OPTIMIZER_BYTES_PER_PARAM + DEEPSPEED_FIXED_BYTES;
  return { hfModel, deepspeed, full: hfModel + deepspeed, slim: hfModel };
}

/** Saves of a run: every save_steps, plus the final one when the last step is not a multiple. */
export function numberOfSaves(totalSteps: number, saveSteps: number): number {
  if (totalSteps <= 0) return 0;
  return Math.floor(totalSteps / saveSteps) + (totalSteps % saveSteps === 0 ? 0 : 1);
}

/**
 * How many checkpoints a policy keeps at most (retention.ts semantics: union of the terms,
 * the newest and the tracked best are always kept; best:N and top:K rank by a metric and keep
 * everything when no checkpoint has it, e.g. with no evaluation during training).
 */
export function keptByPolicy(params: { policy: string; saves: number; evalDuringTraining: boolean; bestTracked: boolean }): { kept: number; why: string } {
  const { saves } = params;
  const terms = parsePolicy(params.policy, "training.checkpoint.retention").terms;
  if (terms.some((t) => t.kind === "all")) return { kept: saves, why: "all: every checkpoint is kept" };
  let kept = 0;
  let newestCovered = false; // a last:N term already counts the newest
  let bestCovered = false; // a best:N term already counts the tracked best
  for (const t of terms) {
    if (t.kind === "last") {
      kept += t.n;
      newestCovered = true;
    } else if (t.kind === "best") {
      if (!params.evalDuringTraining) return { kept: saves, why: `${params.policy}: no evaluation during training, nothing to rank, every checkpoint is kept` };
      kept += t.n;
      bestCovered = true;
    } else if (t.kind === "top") {
      if (!params.evalDuringTraining && !ALWAYS_RECORDED.has(t.metric)) {
        return { kept: saves, why: `${params.policy}: ${t.metric} is not recorded during training, every checkpoint is kept` };
      }
      kept += t.k;
    }
  }
  if (!newestCovered) kept += 1; // the newest is never pruned (resume needs it)
  if (params.bestTracked && !bestCovered) kept += 1;
  return { kept: Math.min(saves, kept), why: `${params.policy} keeps at most ${Math.min(saves, kept)}` };
}

/** Disk needed at the peak of a run with these settings. */
export function diskPlan(params: {
  policy: string;
  saves: number;
  sizes: CheckpointSizes;
  keepOptimizerStates: number;
  deferred: boolean;
  evalDuringTraining: boolean;
  bestTracked: boolean;
}): DiskPlan {
  const { kept, why } = keptByPolicy(params);
  const peak = Math.min(params.saves, kept + 1);
  // Slimming drops deepspeed/ from all but the newest N; it needs hf_model/, so not with deferred export.
  const slimming = params.keepOptimizerStates > 0 && !params.deferred;
  const fullAtPeak = slimming ? Math.min(peak, params.keepOptimizerStates + 1) : peak;
  const slimAtPeak = peak - fullAtPeak;
  return {
    policy: params.policy,
    saves: params.saves,
    kept,
    peak,
    fullAtPeak,
    slimAtPeak,
    requiredBytes: fullAtPeak * params.sizes.full + slimAtPeak * params.sizes.slim,
    why,
  };
}

/** Total steps the way engine/qc_engine/train.py counts them (drop_last sampler, floor divisions). */
export function estimateTotalSteps(params: { config: QwenClassifyConfig; numTrainSamples: number; worldSize: number }): number {
  const t = params.config.training;
  if (t.max_steps > 0) return t.max_steps;
  const perRank = Math.floor(params.numTrainSamples / params.worldSize);
  const stepsPerEpoch = Math.max(1, Math.floor(Math.floor(perRank / t.per_device_batch_size) / t.gradient_accumulation_steps));
  return Math.max(1, Math.ceil(t.epochs * stepsPerEpoch));
}

/** readModelSize, with an unreadable weights file reported as bad input (exit 2) naming it. */
function readModelOrExplain(p: Parameters<typeof readModelSize>[0]): ModelSize {
  try {
    return readModelSize(p);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`model.pretrained_name ${p.pretrainedName}: cannot read the model's size: ${e instanceof Error ? e.message : String(e)}`, {
      hint: "the weights look damaged or partly downloaded: download them again, or point model.pretrained_name at a complete model folder",
    });
  }
}

/**
 * The disk preflight: bytes of one checkpoint, how many the run keeps at once, against the free
 * space at output_dir. Throws a UserError (numbers + settings that would fit) when it does not
 * fit, unless allowLowDisk.
 */
export async function preflight(params: PreflightParams): Promise<PreflightResult> {
  const { config } = params;
  const t = config.training;
  const notes: string[] = [];
  const hasGpu = params.hasGpu ?? countGpus({ env: params.env }) > 0;
  const dtype = effectivePrecision(t.precision, hasGpu);
  const model = params.modelSize ?? readModelOrExplain({ pretrainedName: config.model.pretrained_name, numLabels: config.model.num_labels, env: params.env });
  const trainableParams = config.model.freeze_vision_tower ? model.params - model.visionParams : model.params;
  const deferred = t.checkpoint.hf_format === "deferred";
  const sizes = checkpointSizes({ params: model.params, trainableParams, dtype, extraFileBytes: model.extraFileBytes, deferred });

  // Schedule.
  const worldSize = params.worldSize ?? 1;
  let totalSteps: number;
  let stepsSource: string;
  if (params.totalSteps !== undefined) {
    totalSteps = params.totalSteps;
    stepsSource = "given";
  } else if (t.max_steps > 0) {
    totalSteps = t.max_steps;
    stepsSource = "training.max_steps";
  } else {
    let samples = params.numTrainSamples;
    if (samples === undefined && existsSync(config.data.train_jsonl)) samples = await countNonBlankLines(config.data.train_jsonl);
    if (samples === undefined) {
      totalSteps = 0;
      stepsSource = "unknown (data.train_jsonl not there yet)";
      notes.push(`data.train_jsonl does not exist yet: the number of steps (and of checkpoints) is unknown; counting one checkpoint`);
    } else {
      totalSteps = estimateTotalSteps({ config, numTrainSamples: samples, worldSize });
      stepsSource = `${samples.toLocaleString("en-US")} samples x ${t.epochs} epoch(s) / (batch ${t.per_device_batch_size} x ${worldSize} process(es) x accumulation ${t.gradient_accumulation_steps})`;
    }
  }
  const saves = Math.max(1, numberOfSaves(totalSteps, t.save_steps));
  const evalDuringTraining = !t.skip_evaluation && t.evaluation.partial_eval_during_training;
  const bestTracked = t.best_model_tracking.enabled;
  const noEval = t.skip_evaluation;
  const policy = defaultPolicy(config);
  const planFor = (over: { policy?: string; keep?: number; deferred?: boolean; saves?: number }) => {
    const d = over.deferred ?? deferred;
    return diskPlan({
      policy: over.policy ?? policy,
      saves: over.saves ?? saves,
      sizes: d === deferred ? sizes : checkpointSizes({ params: model.params, trainableParams, dtype, extraFileBytes: model.extraFileBytes, deferred: d }),
      keepOptimizerStates: over.keep ?? t.checkpoint.keep_optimizer_states,
      deferred: d,
      evalDuringTraining,
      bestTracked,
    });
  };
  const plan = planFor({});

  // Free space, and what is already there.
  const freeAt = nearestExisting(t.output_dir);
  const st = (params.statfs ?? statfsSync)(freeAt);
  const freeBytes = Number(st.bavail) * Number(st.bsize);
  let existingBytes = 0;
  if (existsSync(t.output_dir)) {
    try {
      for (const c of listCheckpoints({ outputDir: t.output_dir, includeIncomplete: true })) existingBytes += dirBytes(c.path);
    } catch {
      existingBytes = 0;
    }
  }
  const neededBytes = Math.max(0, plan.requiredBytes - (params.resume ? existingBytes : 0));
  const measured = model.source !== "unknown";
  if (!measured) notes.push(`${model.detail}: checkpoint sizes unknown, disk not checked`);
  if (worldSize === 1 && params.worldSize === undefined && t.max_steps === 0 && params.totalSteps === undefined) {
    notes.push("steps counted for 1 process (the most checkpoints; more processes save fewer)");
  }
  const fits = !measured || neededBytes <= freeBytes;

  // What would make it fit.
  const suggestions: Suggestion[] = [];
  if (measured && !fits) {
    const add = (sets: string[], description: string, p: DiskPlan) => {
      const need = Math.max(0, p.requiredBytes - (params.resume ? existingBytes : 0));
      suggestions.push({ sets, description, requiredBytes: p.requiredBytes, fits: need <= freeBytes });
    };
    if (!deferred && t.checkpoint.keep_optimizer_states !== 1) {
      add(["training.checkpoint.keep_optimizer_states=1"], "slimming: optimizer state in the newest checkpoint only; older ones cannot be resumed", planFor({ keep: 1 }));
    }
    const lastFits = (keep: number) => {
      for (let n = Math.max(1, plan.kept - 1); n >= 1; n--) {
        const p = planFor({ policy: `last:${n}`, keep });
        if (Math.max(0, p.requiredBytes - (params.resume ? existingBytes : 0)) <= freeBytes) return { n, p };
      }
      return null;
    };
    // The no-eval contract keeps every checkpoint during training: a retention limit is never offered.
    const byLimit = noEval ? null : lastFits(t.checkpoint.keep_optimizer_states);
    if (!noEval) {
      if (byLimit) add([`training.checkpoint.retention=last:${byLimit.n}`], `retention limit: keep the newest ${byLimit.n}`, byLimit.p);
      else add(["training.checkpoint.retention=last:1"], "retention limit: keep the newest only", planFor({ policy: "last:1" }));
    }
    if (!deferred) add(["training.checkpoint.hf_format=deferred"], "deferred export: no hf_model/ at each save (tasks/export.ts later)", planFor({ deferred: true }));
    const slimmingAloneFits = suggestions.some((x) => x.sets.length === 1 && x.sets[0] === "training.checkpoint.keep_optimizer_states=1" && x.fits);
    if (!deferred && !slimmingAloneFits && !noEval) {
      const both = lastFits(1);
      if (both && both.n > (byLimit?.n ?? 0)) {
        add(["training.checkpoint.keep_optimizer_states=1", `training.checkpoint.retention=last:${both.n}`], `slimming + keep the newest ${both.n}`, both.p);
      }
    }
    if (plan.kept === plan.saves && plan.saves > 1 && totalSteps > 0) {
      // Every save is kept: fewer saves (a larger save_steps), the most that still fit.
      const fewerSaves = (over: { keep?: number; deferred?: boolean }) => {
        for (let wanted = plan.saves - 1; wanted >= 1; wanted--) {
          const saveSteps = Math.ceil(totalSteps / wanted);
          const p = planFor({ ...over, saves: numberOfSaves(totalSteps, saveSteps) });
          if (Math.max(0, p.requiredBytes - (params.resume ? existingBytes : 0)) <= freeBytes) return { saveSteps, p };
        }
        return null;
      };
      const alone = fewerSaves({});
      if (alone) add([`training.save_steps=${alone.saveSteps}`], `fewer saves: every ${alone.saveSteps} steps (${alone.p.saves} checkpoints)`, alone.p);
      // With slimming, more saves fit than without: offered when slimming alone does not fit.
      const slimmed = !deferred && !slimmingAloneFits ? fewerSaves({ keep: 1 }) : null;
      if (slimmed && slimmed.saveSteps < (alone?.saveSteps ?? Infinity)) {
        add(["training.checkpoint.keep_optimizer_states=1", `training.save_steps=${slimmed.saveSteps}`], `slimming + a save every ${slimmed.saveSteps} steps (${slimmed.p.saves} checkpoints)`, slimmed.p);
      }
    }
  }
  if (noEval && t.checkpoint.keep_optimizer_states > 0) notes.push(slimNote(totalSteps, t.save_steps, t.checkpoint.keep_optimizer_states));

  const result: PreflightResult = {
    fits,
    overridden: !fits && !!params.allowLowDisk,
    measured,
    model,
    trainableParams,
    dtype,
    bytesPerParam: bytesPerParam(dtype),
    sizes,
    totalSteps,
    stepsSource,
    plan,
    existingBytes,
    neededBytes,
    freeBytes,
    freeAt,
    suggestions,
    notes,
    text: "",
  };
  result.text = formatPreflight(result, config);
  if (!fits && !params.allowLowDisk) {
    const fixes = suggestions.filter((s) => s.fits);
    throw new UserError(`not enough disk space for the checkpoints of this run\n${result.text.trimEnd()}`, {
      hint:
        (fixes.length
          ? `settings that fit: ${fixes.map((s) => s.sets.map((x) => `--set ${x}`).join(" ")).join("  |  ")}; `
          : "no single setting makes it fit: free space or choose another training.output_dir; ") +
        (t.skip_evaluation ? "training.skip_evaluation keeps every checkpoint, so no retention limit is offered (prune afterwards with tasks/prune.ts); " : "") +
        "or pass --allow-low-disk to run anyway",
    });
  }
  return result;
}

const n = (x: number) => x.toLocaleString("en-US");

/** Which checkpoints of a no-eval run lose deepspeed/ (their resumable state) to keep_optimizer_states. */
export function slimNote(totalSteps: number, saveSteps: number, keep: number): string {
  const what = "lose deepspeed/ (training.checkpoint.keep_optimizer_states): they keep hf_model/ and can be evaluated and exported, not resumed";
  if (totalSteps <= 0) return `every checkpoint but the newest ${keep} will ${what}`;
  const steps: number[] = [];
  for (let s = saveSteps; s < totalSteps; s += saveSteps) steps.push(s);
  steps.push(totalSteps);
  const slimmed = steps.slice(0, Math.max(0, steps.length - keep)).map((s) => `checkpoint-${s}`);
  if (!slimmed.length) return `no checkpoint will lose deepspeed/: ${steps.length} save(s), keep_optimizer_states ${keep}`;
  const list = slimmed.length > 8 ? [...slimmed.slice(0, 6), "…", slimmed.at(-1)!].join(", ") : slimmed.join(", ");
  return `${slimmed.length} of ${steps.length} checkpoints (${list}) will ${what}`;
}

export function formatPreflight(r: PreflightResult, config: QwenClassifyConfig): string {
  const out: string[] = [];
  const t = config.training;
  if (!r.measured) {
    out.push(`preflight: disk not checked (${r.model.detail})`);
    return out.join("\n") + "\n";
  }
  out.push(
    `preflight: ${n(r.model.params)} parameters (${r.model.detail}); ${n(r.trainableParams)} trained; ${r.dtype} = ${r.bytesPerParam} bytes/param`,
  );
  out.push(
    `  one checkpoint: ${t.checkpoint.hf_format === "deferred" ? "no hf_model (deferred)" : `hf_model ${formatBytes(r.sizes.hfModel)}`} + deepspeed ${formatBytes(r.sizes.deepspeed)} ` +
      `(weights ${r.bytesPerParam} + fp32 master/Adam ${OPTIMIZER_BYTES_PER_PARAM} bytes/trained param) = ${formatBytes(r.sizes.full)}` +
      (r.plan.slimAtPeak > 0 ? `; slim ${formatBytes(r.sizes.slim)}` : ""),
  );
  out.push(
    `  schedule: ${n(r.totalSteps)} steps (${r.stepsSource}), save every ${n(t.save_steps)} -> ${n(r.plan.saves)} checkpoint(s); ` +
      `${r.plan.why}; ${r.plan.peak} on disk at the peak (${r.plan.fullAtPeak} full${r.plan.slimAtPeak ? ` + ${r.plan.slimAtPeak} slim` : ""})`,
  );
  out.push(
    `  disk: needs ${formatBytes(r.plan.requiredBytes)}${r.existingBytes ? ` (${formatBytes(r.existingBytes)} already in output_dir)` : ""}; ` +
      `${formatBytes(r.freeBytes)} free at ${r.freeAt} -> ${r.fits ? "fits" : r.overridden ? "DOES NOT FIT (--allow-low-disk: going ahead)" : "DOES NOT FIT"}`,
  );
  for (const note of r.notes) out.push(`  note: ${note}`);
  if (r.suggestions.length) {
    out.push("  would fit with:");
    for (const s of r.suggestions) {
      out.push(`    ${s.fits ? "yes" : "no "}  ${s.sets.map((x) => `--set ${x}`).join(" ")}  (${s.description}: ${formatBytes(s.requiredBytes)})`);
    }
  }
  return out.join("\n") + "\n";
}
