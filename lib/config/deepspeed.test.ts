import { expect, test } from "bun:test";
import { buildDeepSpeedConfig, effectivePrecision } from "./deepspeed.ts";
import { resolveConfig } from "./resolve.ts";

const configWith = (yaml: string) => resolveConfig({ configPath: "c.yaml", cwd: "/x", readFile: () => yaml, exists: () => false }).config;

test("precision auto: bf16 on a GPU, fp32 on the CPU; explicit values kept", () => {
  expect(effectivePrecision("auto", true)).toBe("bf16");
  expect(effectivePrecision("auto", false)).toBe("fp32");
  expect(effectivePrecision("fp16", false)).toBe("fp16");
});

test("batch sizes, clipping, ZeRO 2, precision flags", () => {
  const ds = buildDeepSpeedConfig({ config: configWith("training:\n  per_device_batch_size: 4\n  gradient_accumulation_steps: 3\n  max_grad_norm: 0.5\n"), worldSize: 2, hasGpu: true });
  expect(ds.train_micro_batch_size_per_gpu).toBe(4);
  expect(ds.gradient_accumulation_steps).toBe(3);
  expect(ds.train_batch_size).toBe(24);
  expect(ds.gradient_clipping).toBe(0.5);
  expect(ds.bf16).toEqual({ enabled: true });
  expect(ds.fp16).toEqual({ enabled: false });
  expect((ds.zero_optimization as any).stage).toBe(2);
  expect((ds.zero_optimization as any).offload_optimizer).toBeUndefined();
  expect(ds.steps_per_print).toBeGreaterThan(1e8);
  expect(ds.optimizer).toBeUndefined();
});

test("CPU: fp32, no bf16; offloads only where ZeRO allows them", () => {
  const cpu = buildDeepSpeedConfig({ config: configWith("{}"), hasGpu: false });
  expect(cpu.bf16).toEqual({ enabled: false });
  expect(cpu.train_batch_size).toBeUndefined();
  const z3 = buildDeepSpeedConfig({ config: configWith("deepspeed:\n  zero_stage: 3\n  offload_param: true\n  offload_optimizer: true\n"), hasGpu: true });
  const zero = z3.zero_optimization as any;
  expect(zero.stage).toBe(3);
  expect(zero.offload_param.device).toBe("cpu");
  expect(zero.offload_optimizer.device).toBe("cpu");
  expect(zero.stage3_gather_16bit_weights_on_model_save).toBe(true);
  const fp16 = buildDeepSpeedConfig({ config: configWith("training:\n  precision: fp16\n"), hasGpu: true });
  expect((fp16.fp16 as any).enabled).toBe(true);
});

test("ZeRO gradient buffers: off on the CPU, DeepSpeed's defaults (keys absent) on a GPU", () => {
  for (const stage of [1, 2, 3]) {
    const config = configWith(`deepspeed:\n  zero_stage: ${stage}\n`);
    const cpu = buildDeepSpeedConfig({ config, hasGpu: false }).zero_optimization as any;
    expect(cpu.stage).toBe(stage);
    expect(cpu.contiguous_gradients).toBe(false);
    expect(cpu.overlap_comm).toBe(false);
    const gpu = buildDeepSpeedConfig({ config, hasGpu: true }).zero_optimization as any;
    expect(gpu.stage).toBe(stage);
    expect("contiguous_gradients" in gpu).toBe(false);
    expect("overlap_comm" in gpu).toBe(false);
  }
  const zero0 = buildDeepSpeedConfig({ config: configWith("deepspeed:\n  zero_stage: 0\n"), hasGpu: false }).zero_optimization as any;
  expect(zero0).toEqual({ stage: 0 });
});
