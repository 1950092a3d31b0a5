import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectPython } from "../util/python.ts";
import { estimateFromConfig, findModelDir, modelSize, readSafetensorsHeader } from "./model_size.ts";
import { writeSafetensors } from "./test_fixtures.ts";

const TINY_CONFIG = {
  model_type: "qwen2_5_vl",
  text_config: { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 1000 },
  vision_config: { depth: 1, hidden_size: 32, intermediate_size: 64, num_heads: 2, out_hidden_size: 64 },
};

describe("modelSize", () => {
  test("sums the shapes of every shard, leaves lm_head out, adds the head", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-model-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify(TINY_CONFIG));
    writeFileSync(join(dir, "tokenizer.json"), "x".repeat(1000));
    writeSafetensors(join(dir, "model-00001-of-00002.safetensors"), { "model.embed_tokens.weight": [1000, 64], "model.visual.blocks.0.w": [100, 50] });
    writeSafetensors(join(dir, "model-00002-of-00002.safetensors"), { "model.norm.weight": [64], "lm_head.weight": [1000, 64] });
    const m = modelSize({ pretrainedName: dir, numLabels: 10 });
    expect(m.source).toBe("safetensors");
    // 64,000 + 5,000 + 64 + head (64 x 10 + 10 = 650); lm_head's 64,000 left out
    expect(m.params).toBe(64_000 + 5_000 + 64 + 650);
    expect(m.visionParams).toBe(5_000);
    expect(m.hiddenSize).toBe(64);
    expect(m.extraFileBytes).toBe(1000 + JSON.stringify(TINY_CONFIG).length);
    expect(m.detail).toContain("lm_head's 64,000 left out");
  });

  test("no weights: estimated from config.json; nothing: unknown", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-model-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify(TINY_CONFIG));
    const m = modelSize({ pretrainedName: dir, numLabels: 3 });
    expect(m.source).toBe("config");
    expect(m.params).toBe(estimateFromConfig(TINY_CONFIG)!.params + 64 * 3 + 3);
    const none = modelSize({ pretrainedName: join(dir, "nope"), numLabels: 3 });
    expect(none.source).toBe("unknown");
    expect(none.detail).toContain("not on this machine");
  });

  test("a header that is not safetensors is named", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-model-"));
    writeFileSync(join(dir, "model.safetensors"), "not really");
    expect(() => readSafetensorsHeader(join(dir, "model.safetensors"))).toThrow("not a safetensors file");
  });

  test("a Hub id is looked up in the Hugging Face cache (refs/main)", () => {
    const cache = mkdtempSync(join(tmpdir(), "qc-hub-"));
    const repo = join(cache, "models--Qwen--Qwen2.5-VL-7B-Instruct");
    mkdirSync(join(repo, "snapshots", "abc123"), { recursive: true });
    mkdirSync(join(repo, "refs"));
    writeFileSync(join(repo, "refs", "main"), "abc123\n");
    expect(findModelDir({ name: "Qwen/Qwen2.5-VL-7B-Instruct", env: { HF_HUB_CACHE: cache } })).toBe(join(repo, "snapshots", "abc123"));
    expect(findModelDir({ name: "Qwen/Other", env: { HF_HUB_CACHE: cache } })).toBeNull();
  });
});

describe("estimateFromConfig", () => {
  test("Qwen2.5-VL-7B: the count transformers gives for Qwen2_5_VLModel (7,747,169,280, vision 676,550,144)", () => {
    // Old-style config.json of Qwen2.5-VL-7B-Instruct: text keys at the top level.
    const cfg = {
      hidden_size: 3584,
      intermediate_size: 18944,
      num_hidden_layers: 28,
      num_attention_heads: 28,
      num_key_value_heads: 4,
      vocab_size: 152064,
      vision_config: { depth: 32, hidden_size: 1280, intermediate_size: 3420, num_heads: 16, out_hidden_size: 3584, patch_size: 14, spatial_merge_size: 2, temporal_patch_size: 2, in_chans: 3 },
    };
    expect(estimateFromConfig(cfg)).toEqual({ params: 7_747_169_280, visionParams: 676_550_144, hiddenSize: 3584 });
  });
});

const hasPython = existsSync(projectPython());
test.skipIf(!hasPython)("reads a file written by the safetensors library", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qc-st-"));
  const path = join(dir, "model.safetensors");
  const py = Bun.spawnSync([
    projectPython(),
    "-c",
    "import sys, torch; from safetensors.torch import save_file; save_file({'a.weight': torch.zeros(3, 5), 'visual.b': torch.zeros(7, dtype=torch.bfloat16)}, sys.argv[1])",
    path,
  ]);
  expect(py.exitCode).toBe(0);
  const h = readSafetensorsHeader(path);
  expect(h.tensors.map((t) => [t.name, t.dtype, t.shape]).sort()).toEqual([
    ["a.weight", "F32", [3, 5]],
    ["visual.b", "BF16", [7]],
  ]);
});

test.skipIf(!hasPython)("a real tiny Qwen2.5-VL: the header count equals the engine classifier's parameters", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "qc-tiny-")), "tiny");
  const script = [
    "import json, sys",
    "from qc_engine.tiny import build_tiny_model",
    "from qc_engine.model import build_classifier",
    "build_tiny_model(sys.argv[1])",
    "m = build_classifier(sys.argv[1], [str(i) for i in range(7)], freeze_vision_tower=True)",
    "total = sum(p.numel() for p in m.parameters())",
    "trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)",
    "print(json.dumps({'total': total, 'trainable': trainable}))",
  ].join("\n");
  const r = Bun.spawnSync([projectPython(), "-c", script, dir], { env: { ...process.env, PYTHONPATH: join(import.meta.dir, "..", "..", "engine") }, stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  const engine = JSON.parse(r.stdout.toString().trim().split("\n").at(-1)!) as { total: number; trainable: number };
  const m = modelSize({ pretrainedName: dir, numLabels: 7 });
  expect(m.source).toBe("safetensors");
  expect(m.params).toBe(engine.total);
  expect(m.params - m.visionParams).toBe(engine.trainable);
  // and the config-only estimate agrees with the headers
  expect(estimateFromConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")))!.params + m.hiddenSize! * 7 + 7).toBe(engine.total);
}, 120_000);
