import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkDiskBeforeLaunch, worldSizeFromArgv } from "./disk_check.ts";

function model(bytes: number, dtype: string) {
  const dir = mkdtempSync(join(tmpdir(), "qc-disk-"));
  writeFileSync(join(dir, "model.safetensors"), Buffer.alloc(bytes));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ torch_dtype: dtype }));
  return dir;
}

test("world size from torchrun flags", () => {
  expect(worldSizeFromArgv(["torchrun", "--nproc-per-node", "4", "--nnodes", "2"])).toBe(8);
  expect(worldSizeFromArgv(["torchrun", "--nproc_per_node=3"])).toBe(3);
  expect(worldSizeFromArgv(["torchrun", "--nnodes=1:4"])).toBe(1);
});

test("standard retention: save_total_limit + best + the one being written, 8x 16-bit weights each", () => {
  const dir = model(1000, "bfloat16");
  const r = checkDiskBeforeLaunch({ config: { model: { pretrained_name: dir }, training: { save_total_limit: 2 } }, outputDir: dir, argv: [], freeBytes: () => 31_999 });
  expect(r.requiredBytes).toBe(4 * 8000);
  expect(r.ok).toBe(false);
  expect(r.message).toContain("not enough disk space");
  expect(checkDiskBeforeLaunch({ config: { model: { pretrained_name: dir }, training: { save_total_limit: 2 } }, outputDir: dir, argv: [], freeBytes: () => 32_000 }).ok).toBe(true);
});

test("keep every checkpoint: steps from the training JSONL, world size and save_steps; slim older ones", () => {
  const dir = model(1000, "float32");
  const data = join(dir, "train.jsonl");
  writeFileSync(data, Array.from({ length: 40 }, (_, i) => `{"image":"${i}.png","label":0}`).join("\n") + "\n");
  const config = { model: { pretrained_name: dir }, data: { train_jsonl: data }, training: { save_all_checkpoints: true, epochs: 2, per_device_batch_size: 2, save_steps: 5 } };
  // 2 epochs x 40 / (2 x 2 ranks) = 20 steps -> 4 saves of 5000 bytes (fp32: 5x)
  const r = checkDiskBeforeLaunch({ config, outputDir: dir, argv: ["torchrun", "--nproc-per-node", "2"], freeBytes: () => 1e9 });
  expect(r.requiredBytes).toBe(4 * 5000);
  expect(r.ok).toBe(true);
  const slim = checkDiskBeforeLaunch({ config: { ...config, training: { ...config.training, checkpoint: { keep_optimizer_states: 1 } } }, outputDir: dir, argv: ["torchrun", "--nproc-per-node", "2"], freeBytes: () => 1e9 });
  expect(slim.requiredBytes).toBe(2 * 5000 + 2 * 1000);
});

test("no local model folder: nothing to estimate, no refusal", () => {
  const r = checkDiskBeforeLaunch({ config: { model: { pretrained_name: "/nope" }, training: {} }, outputDir: "/tmp", argv: [], freeBytes: () => 0 });
  expect(r).toEqual({ ok: true, message: null, requiredBytes: null, freeBytes: null });
});
