// Test helpers for the disk preflight (lib/preflight tests and lib/train/run.test.ts).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PreflightParams } from "./disk.ts";

const DTYPE_BYTES: Record<string, number> = { F32: 4, BF16: 2, F16: 2 };

/** A .safetensors file's header: 8-byte LE length + JSON; and the data size it describes. */
function safetensorsHeader(tensors: Record<string, number[]>, dtype: string): { head: Buffer; dataBytes: number } {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, shape] of Object.entries(tensors)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[dtype] ?? 2);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return { head: Buffer.concat([len, json]), dataBytes: offset };
}

/** A .safetensors file: header, zero-filled data. */
export function writeSafetensors(path: string, tensors: Record<string, number[]>, dtype = "BF16"): void {
  const { head, dataBytes } = safetensorsHeader(tensors, dtype);
  writeFileSync(path, Buffer.concat([head, Buffer.alloc(dataBytes)]));
}

/** A statfs that reports `free` bytes available to the user. */
export function statfsWith(free: number): NonNullable<PreflightParams["statfs"]> {
  return (() => ({ bavail: free / 4096, bsize: 4096, blocks: 1e9, bfree: 0, files: 0, ffree: 0, type: 0 })) as never;
}

/** A .safetensors file with the header only (no tensor data): enough for the preflight, which reads headers. */
export function writeSafetensorsHeader(path: string, tensors: Record<string, number[]>, dtype = "BF16"): void {
  writeFileSync(path, safetensorsHeader(tensors, dtype).head);
}

/** Parameter counts of Qwen2.5-VL-7B-Instruct as transformers builds Qwen2_5_VLModel (lm_head left out). */
export const QWEN7B = { params: 7_747_169_280, visionParams: 676_550_144, hiddenSize: 3584 };

/**
 * A Qwen2.5-VL-7B-sized model folder without weights: its config.json and two header-only
 * shards whose tensors add up to the 7B counts (a few KB on disk).
 */
export function write7bModelFolder(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      model_type: "qwen2_5_vl", hidden_size: 3584, intermediate_size: 18944, num_hidden_layers: 28, num_attention_heads: 28,
      num_key_value_heads: 4, vocab_size: 152064,
      vision_config: { depth: 32, hidden_size: 1280, intermediate_size: 3420, num_heads: 16, out_hidden_size: 3584, patch_size: 14, spatial_merge_size: 2, temporal_patch_size: 2, in_chans: 3 },
    }),
  );
  const embed = 152064 * 3584;
  writeSafetensorsHeader(join(dir, "model-00001-of-00002.safetensors"), {
    "model.embed_tokens.weight": [152064, 3584],
    "model.layers.weight": [QWEN7B.params - QWEN7B.visionParams - embed],
  });
  writeSafetensorsHeader(join(dir, "model-00002-of-00002.safetensors"), {
    "visual.blocks.weight": [QWEN7B.visionParams],
    "lm_head.weight": [152064, 3584],
  });
  return dir;
}
