// A checkpoint's checksum manifest (training_info.json "files": {relative path: {size, sha256}}), written
// by the engine at save time (engine/qc_engine/manifest.py, same rules; shared cases in
// test/fixtures/manifest/cases.json). Sizes are checked always, SHA-256 on request (--verify); a damaged
// checkpoint is refused naming the file. Checkpoints from before the manifest have no "files": accepted.
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";

export interface ManifestEntry {
  size: number;
  sha256: string | null;
}

export type VerifyResult = "none" | "sizes" | "sha256";

function sha256File(path: string): string {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(8 << 20);
  const fd = openSync(path, "r");
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

const DAMAGED = "the checkpoint is damaged";
const FIX = "copy the checkpoint again, or use another checkpoint";

/** Parts training_info.json itself says are gone (slim: deepspeed/; has_hf_model false: hf_model/), as manifest.py. */
export function absentParts(info: { slim?: boolean; has_deepspeed_state?: boolean; has_hf_model?: boolean }): string[] {
  const out: string[] = [];
  if (info.slim || info.has_deepspeed_state === false) out.push("deepspeed/");
  if (info.has_hf_model === false) out.push("hf_model/");
  return out;
}

/** Throws UserError (exit 2) naming the first damaged file. `skipPrefixes`: parts not read (a slim checkpoint's "deepspeed/"). */
export function verifyCheckpoint(params: {
  dir: string;
  info: { files?: Record<string, ManifestEntry>; slim?: boolean; has_deepspeed_state?: boolean; has_hf_model?: boolean } | null;
  hashes?: boolean;
  skipPrefixes?: string[];
}): VerifyResult {
  const files = params.info?.files;
  if (!files || Object.keys(files).length === 0) return "none";
  const skip = [...(params.skipPrefixes ?? []), ...absentParts(params.info ?? {})];
  for (const rel of Object.keys(files).sort()) {
    if (skip.some((p) => rel.startsWith(p))) continue;
    const want = files[rel]!;
    const path = join(params.dir, rel);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new UserError(`${path}: missing from the checkpoint (listed in training_info.json); ${DAMAGED}`, { hint: FIX });
    }
    if (size !== want.size) {
      throw new UserError(`${path}: ${size} bytes, training_info.json says ${want.size}; ${DAMAGED} (truncated or changed)`, { hint: FIX });
    }
    if (params.hashes && want.sha256 && sha256File(path) !== want.sha256) {
      throw new UserError(`${path}: SHA-256 differs from training_info.json; ${DAMAGED}`, { hint: FIX });
    }
  }
  return params.hashes ? "sha256" : "sizes";
}
