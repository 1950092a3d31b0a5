import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { resolveConfig } from "../config/index.ts";
import { checkMemory, jsonlImageSizes, memoryJson, readImageSize } from "./memory_inputs.ts";

const ROOT = resolve(import.meta.dir, "../..");

/** A PNG header (signature + IHDR): all image-size reads. */
function png(path: string, width: number, height: number) {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write("IHDR", 12, "latin1");
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b[24] = 8;
  b[25] = 2;
  writeFileSync(path, b);
}

function dataset(dir: string, sizes: [number, number][]) {
  mkdirSync(join(dir, "images"), { recursive: true });
  const lines = sizes.map(([w, h], i) => {
    png(join(dir, "images", `${i}.png`), w, h);
    return JSON.stringify({ image: `images/${i}.png`, label: i % 2 === 0 ? "a" : "b" });
  });
  writeFileSync(join(dir, "train.jsonl"), lines.join("\n") + "\n" + lines[0] + "\n"); // a repeated image counts once
  writeFileSync(join(dir, "labels.json"), JSON.stringify(["a", "b"]));
}

describe("inputs", () => {
  test("image sizes from headers; distinct images of a JSONL", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-mem-"));
    dataset(dir, [[640, 480], [100, 100]]);
    expect(readImageSize(join(dir, "images/0.png"))).toEqual({ width: 640, height: 480 });
    expect(readImageSize(join(dir, "nope.png"))).toBeNull();
    const sizes = jsonlImageSizes({ jsonl: join(dir, "train.jsonl") });
    expect(sizes.map((s) => [s.width, s.height])).toEqual([[640, 480], [100, 100]]);
  });
});

describe("checkMemory", () => {
  const resolved = (model: string, data: string, extra: string[] = []) =>
    resolveConfig({
      configPath: join(ROOT, "configs/food101.yaml"),
      sets: [`model.pretrained_name=${model}`, `data.train_jsonl=${join(data, "train.jsonl")}`, `data.labels_file=${join(data, "labels.json")}`, ...extra],
    }).config;

  test("7B-shaped config.json, full fine-tuning, ZeRO-0, 1 x 24 GiB: does not fit, tokens from the real images", () => {
    const model = mkdtempSync(join(tmpdir(), "qc-7b-"));
    copyFileSync(join(ROOT, "test/fixtures/qwen2_5_vl_7b_config.json"), join(model, "config.json"));
    const data = mkdtempSync(join(tmpdir(), "qc-mem-"));
    dataset(data, [[640, 480], [100, 100], [224, 224]]);
    const m = checkMemory({ config: resolved(model, data, ["deepspeed.zero_stage=0"]), worldSize: 1, hasGpu: false, gpuMemory: "24GiB", plan: true });
    expect(m.preflight!.fits).toBe(false);
    expect(m.imageTokens).toMatchObject({ images: 3, min: 16, max: 234 }); // 640x480 -> 504x364 (transformers smart_resize) -> 18 x 13
    expect(m.preflight!.estimate.tokens.image).toBe(234);
    const j = memoryJson(m);
    expect(j.fits).toBe(false);
    expect((j.report as string)).toContain("DOES NOT FIT");
    expect((j.plan as { lora: { gpus: number }[] }).lora[0].gpus).toBe(1);
  });

  test("the demo's tiny model fits; no config.json: no estimate, a note; a bad --gpu-memory is a user error", () => {
    const model = mkdtempSync(join(tmpdir(), "qc-tiny-"));
    writeFileSync(join(model, "config.json"), JSON.stringify({
      text_config: { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40 },
      vision_config: { depth: 2, hidden_size: 64, intermediate_size: 128, num_heads: 4, out_hidden_size: 64 },
    }));
    const data = mkdtempSync(join(tmpdir(), "qc-mem-"));
    dataset(data, [[56, 56], [56, 56]]);
    const demo = resolveConfig({ sets: [`model.pretrained_name=${model}`, `data.train_jsonl=${join(data, "train.jsonl")}`] }).config;
    const m = checkMemory({ config: demo, worldSize: 1, hasGpu: false, gpuMemory: "24GiB" });
    expect(m.preflight!.fits).toBe(true);
    expect(m.preflight!.estimate.tokens.image).toBe(4);
    const none = checkMemory({ config: resolved(join(model, "absent"), data), worldSize: 1, hasGpu: false });
    expect(none.preflight).toBeNull();
    expect(none.note).toContain("no config.json");
    expect(() => checkMemory({ config: demo, worldSize: 1, hasGpu: false, gpuMemory: "big" })).toThrow("--gpu-memory");
    writeFileSync(join(model, "config.json"), JSON.stringify({ model_type: "bert" }));
    expect(checkMemory({ config: demo, worldSize: 1, hasGpu: false }).note).toContain("no hidden_size");
  });
});
