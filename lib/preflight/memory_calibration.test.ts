// The estimate against a measured peak: bench/memory_calibration.py trains a small model built by
// qc_engine.tiny for two steps on the CPU (peak RSS delta) and asks lib/preflight/memory_cli.ts for
// the estimate; the stated error is +-20% (BENCHMARKS.md, "GPU memory estimate").
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { projectPython } from "../util/python.ts";
import { estimateMemory } from "./memory.ts";

const ROOT = resolve(import.meta.dir, "../..");

test("estimate within 20% of the measured peak of the small model (full fine-tuning, 2 steps, fp32, CPU)", () => {
  const dir = mkdtempSync(join(tmpdir(), "qc-memcal-"));
  const out = join(dir, "rows.json");
  const p = Bun.spawnSync([projectPython(), join(ROOT, "bench/memory_calibration.py"), "--cases", "small", "--variants", "full", "--models", dir, "--json", out], {
    cwd: ROOT,
    env: { ...process.env, PYTHONPATH: join(ROOT, "engine"), DS_ACCELERATOR: "cpu" },
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(p.exitCode, p.stderr.toString().slice(-2000)).toBe(0);
  const [row] = JSON.parse(readFileSync(out, "utf8"));
  expect(row.peak_delta).toBeGreaterThan(50 * 2 ** 20); // a real training peak, far above the RSS noise
  expect(row.image_tokens).toBe(256); // 448x448 -> 16 x 16 tokens
  // The same estimate in process: the CLI the script called is this function.
  const e = estimateMemory({
    modelConfig: JSON.parse(readFileSync(join(dir, "small", "config.json"), "utf8")),
    numLabels: 2, precision: "fp32", device: "cpu", zeroStage: 0, offloadOptimizer: false, offloadParam: false, worldSize: 1,
    perDeviceBatch: 2, gradientCheckpointing: false, freezeVisionTower: false,
    imageTokensPerSample: row.image_tokens, textTokensPerSample: row.text_tokens,
  });
  expect(e.totalBytes).toBe(row.estimate);
  expect(Math.abs(e.totalBytes - row.peak_delta) / row.peak_delta).toBeLessThanOrEqual(0.2);
  rmSync(dir, { recursive: true, force: true });
}, 120_000); // ~20 s on an idle 2-core machine; the timeout leaves room for a loaded one
