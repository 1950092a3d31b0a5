import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../config/problems.ts";
import { resolveConfig } from "../config/resolve.ts";
import { configForTest } from "../data/fixtures.ts";
import { UserError } from "../util/errors.ts";
import { checkRunInputs } from "../train/inputs.ts";
import { checkLoraInputs, weightNames } from "./lora.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A model folder whose model.safetensors header names these tensors (1-element fp32 each). */
function modelDir(names: string[]): string {
  const root = mkdtempSync(join(tmpdir(), "qc-lora-"));
  dirs.push(root);
  const dir = join(root, "model");
  mkdirSync(dir);
  writeFileSync(join(dir, "config.json"), "{}");
  const header: Record<string, unknown> = {};
  names.forEach((n, i) => (header[n] = { dtype: "F32", shape: [1], data_offsets: [i * 4, i * 4 + 4] }));
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(join(dir, "model.safetensors"), Buffer.concat([len, json, Buffer.alloc(names.length * 4)]));
  return dir;
}

const QWEN = ["q_proj", "k_proj", "v_proj", "o_proj"].map((n) => `model.layers.0.self_attn.${n}.weight`)
  .concat(["gate_proj", "up_proj", "down_proj"].map((n) => `model.layers.0.mlp.${n}.weight`))
  .concat(["attn.qkv", "attn.proj", "mlp.gate_proj"].map((n) => `visual.blocks.0.${n}.weight`), ["model.layers.0.input_layernorm.weight"]);

const lora = (dir: string, l: Record<string, unknown>, model: Record<string, unknown> = {}) =>
  configForTest({ model: { pretrained_name: dir, ...model, lora: { enabled: true, ...l } } });

test("weight names come from the safetensors header; the defaults match a Qwen2.5-VL folder", () => {
  const dir = modelDir(QWEN);
  expect(weightNames(dir)).toEqual(QWEN);
  expect(checkLoraInputs({ config: lora(dir, {}) })).toEqual([]);
  expect(checkLoraInputs({ config: configForTest({ model: { pretrained_name: dir } }) })).toEqual([]); // disabled
});

test("a target that matches nothing, a vision-only name without vision_tower: lora, a folder without decoder layers", () => {
  const dir = modelDir(QWEN);
  const [bad] = checkLoraInputs({ config: lora(dir, { target_modules: ["q_proj", "q_prj"] }) });
  expect(bad).toEqual({ key: "model.lora.target_modules", message: `"q_prj" matches no linear layer of the language model of ${dir}`, fix: "use names among: down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj" });
  expect(checkLoraInputs({ config: lora(dir, { target_modules: ["qkv"] }) })[0]?.message).toBe(`"qkv" matches no linear layer of the language model of ${dir}`);
  expect(checkLoraInputs({ config: lora(dir, { target_modules: ["qkv"], vision_tower: "lora" }) })).toEqual([]);
  const noLayers = modelDir(["encoder.weight"]);
  expect(checkLoraInputs({ config: lora(noLayers, {}) })[0]?.message).toBe(`${noLayers} has no language-model decoder layers (model.layers.N.*) to put adapters on`);
});

test("vision_tower lora/full contradicts freeze_vision_tower; the run's input report exits 2 with key and fix", () => {
  const dir = modelDir(QWEN);
  const config = lora(dir, { vision_tower: "lora", target_modules: ["nope"] }, { freeze_vision_tower: true });
  const problems = checkLoraInputs({ config });
  expect(problems.map((p) => p.key)).toEqual(["model.lora.vision_tower", "model.lora.target_modules"]);
  expect(problems[0]!.message).toBe("lora contradicts model.freeze_vision_tower: true");
  let caught: unknown;
  try {
    checkRunInputs({ config, outputDir: join(dir, "..", "out"), configHash: "h", sourceFile: null });
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(UserError);
  expect((caught as UserError).exitCode).toBe(2);
  expect((caught as UserError).message).toContain("model.lora.vision_tower: lora contradicts model.freeze_vision_tower: true");
  expect((caught as UserError).message).toContain('model.lora.target_modules: "nope" matches no linear layer of the language model or vision tower');
});

test("r <= 0 and an unknown vision_tower are schema errors (exit 2, key and line)", () => {
  const text = "model:\n  lora:\n    enabled: true\n    r: 0\n    vision_tower: thawed\n";
  let caught: unknown;
  try {
    resolveConfig({ configPath: "cfg.yaml", cwd: "/work/here", sets: [], readFile: () => text, exists: () => false });
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  expect((caught as ConfigError).exitCode).toBe(2);
  const problems = (caught as ConfigError).problems;
  expect(problems.map((p) => [p.path, p.line])).toEqual([["model.lora.r", 4], ["model.lora.vision_tower", 5]]);
});
