// bun run lib/preflight/memory_cli.ts --params FILE|- [--json]
// The estimator (lib/preflight/memory.ts) on one MemoryParams object: {"modelConfigPath": ".../config.json"
// (or "modelConfig": {...}), "numLabels", "precision", "device", "zeroStage", ...}. bench/memory_calibration.py
// calls it for its predictions, so the calibration checks the same code the preflight runs.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { estimateMemory, fmtGiB, type MemoryParams } from "./memory.ts";

const { values } = parseArgs({ options: { params: { type: "string" }, json: { type: "boolean" } } });
if (!values.params) {
  process.stderr.write("usage: bun run lib/preflight/memory_cli.ts --params FILE|- [--json]\n");
  process.exit(2);
}
const raw = JSON.parse(readFileSync(values.params === "-" ? 0 : values.params, "utf8")) as MemoryParams & { modelConfigPath?: string };
if (raw.modelConfigPath) raw.modelConfig = JSON.parse(readFileSync(raw.modelConfigPath, "utf8"));
const estimate = estimateMemory(raw);
if (values.json) process.stdout.write(JSON.stringify(estimate) + "\n");
else process.stdout.write(estimate.parts.map((p) => `${p.label.padEnd(18)} ${fmtGiB(p.bytes).padStart(11)}  ${p.detail}`).join("\n") + `\n${"total".padEnd(18)} ${fmtGiB(estimate.totalBytes).padStart(11)}\n`);
