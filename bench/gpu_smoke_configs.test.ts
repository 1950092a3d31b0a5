import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildVariants } from "./gpu_smoke_configs.ts";

const DIR = join(import.meta.dir, "gpu_smoke");

test("the committed bench/gpu_smoke files are what bench/gpu_smoke_configs.ts writes", () => {
  const { files } = buildVariants();
  for (const [name, text] of Object.entries(files)) expect({ name, text: readFileSync(join(DIR, name), "utf8") }).toEqual({ name, text });
});

test("GPU variants are bf16 on one GPU, tiny ones fp32 on the CPU; unknown options become skips", () => {
  const { files, manifest } = buildVariants();
  const z3 = JSON.parse(files["gpu_zero3_sdpa.ds_config.json"]!);
  expect(z3.zero_optimization.stage).toBe(3);
  expect(z3.bf16.enabled).toBe(true);
  const tiny = JSON.parse(files["tiny_zero2_sdpa.ds_config.json"]!);
  expect(tiny.bf16.enabled).toBe(false);
  expect(JSON.parse(files["tiny_zero2_sdpa.resolved.json"]!).config.training.precision).toBe("fp32");
  const names = (manifest as { name: string }[]).map((v) => v.name);
  expect(names).toContain("gpu_zero2_fa2");
  expect(names).not.toContain("tiny_zero2_fa2");
  const packed = (manifest as { name: string; skip?: string; resolved?: string }[]).find((v) => v.name === "gpu_zero2_packed")!;
  // Until the schema has data.batching the variant is a skip that names the refusal; afterwards a real config.
  expect(packed.skip ? packed.skip.includes("data.batching") : Boolean(packed.resolved)).toBe(true);
});
