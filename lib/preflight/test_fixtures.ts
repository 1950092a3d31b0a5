// Test helpers for the disk preflight (lib/preflight tests and lib/train/run.test.ts).
import { writeFileSync } from "node:fs";
import type { PreflightParams } from "./disk.ts";

const DTYPE_BYTES: Record<string, number> = { F32: 4, BF16: 2, F16: 2 };

/** A .safetensors file: 8-byte LE header length, JSON header, zero-filled data. */
export function writeSafetensors(path: string, tensors: Record<string, number[]>, dtype = "BF16"): void {
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
  writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(offset)]));
}

/** A statfs that reports `free` bytes available to the user. */
export function statfsWith(free: number): NonNullable<PreflightParams["statfs"]> {
  return (() => ({ bavail: free / 4096, bsize: 4096, blocks: 1e9, bfree: 0, files: 0, ffree: 0, type: 0 })) as never;
}
