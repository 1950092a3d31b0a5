// ds_config.json from the resolved config. Optimizer and scheduler are built by the engine
// (torch AdamW: no FusedAdam compile on the CPU), so they are not in here.
import type { QwenClassifyConfig } from "../../generated/config.ts";

export type EffectivePrecision = "bf16" | "fp16" | "fp32";

/** precision auto = bf16 on a GPU, fp32 on the CPU. */
export function effectivePrecision(precision: QwenClassifyConfig["training"]["precision"], hasGpu: boolean): EffectivePrecision {
  if (precision === "auto") return hasGpu ? "bf16" : "fp32";
  return precision;
}

export function buildDeepSpeedConfig(params: { config: QwenClassifyConfig; worldSize?: number; hasGpu: boolean }): Record<string, unknown> {
  const { config, worldSize, hasGpu } = params;
  const t = config.training;
  const ds = config.deepspeed;
  const precision = effectivePrecision(t.precision, hasGpu);
  const zero: Record<string, unknown> = { stage: ds.zero_stage };
  if (ds.zero_stage >= 1 && ds.offload_optimizer) zero.offload_optimizer = { device: "cpu", pin_memory: hasGpu };
  if (ds.zero_stage === 3 && ds.offload_param) zero.offload_param = { device: "cpu", pin_memory: hasGpu };
  // CPU (gloo): the contiguous gradient buffer and overlapped reduction only add copies there
  // (measured engine/bare ratio 0.75 -> 0.88 on ZeRO-2, BENCHMARKS.md); a GPU keeps DeepSpeed's defaults.
  if (!hasGpu && ds.zero_stage >= 1) {
    zero.contiguous_gradients = false;
    zero.overlap_comm = false;
  }
  if (ds.zero_stage === 3) zero.stage3_gather_16bit_weights_on_model_save = true;
  const out: Record<string, unknown> = {
    train_micro_batch_size_per_gpu: t.per_device_batch_size,
    gradient_accumulation_steps: t.gradient_accumulation_steps,
    gradient_clipping: t.max_grad_norm,
    zero_optimization: zero,
    bf16: { enabled: precision === "bf16" },
    fp16: precision === "fp16" ? { enabled: true, loss_scale: 0, initial_scale_power: 16 } : { enabled: false },
    // The engine passes torch AdamW as a client optimizer.
    zero_allow_untested_optimizer: true,
    // We log ourselves (events.jsonl): keep DeepSpeed's own step printing out of the way.
    steps_per_print: 1_000_000_000,
    wall_clock_breakdown: false,
  };
  if (ds.offload_optimizer) out.zero_force_ds_cpu_optimizer = false;
  if (worldSize !== undefined) out.train_batch_size = t.per_device_batch_size * t.gradient_accumulation_steps * worldSize;
  return out;
}
