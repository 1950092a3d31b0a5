// What the launcher (lib/train/run.ts) and tasks/prepare.ts call before a run.
export { preflight, formatPreflight, type PreflightParams, type PreflightResult } from "./disk.ts";
export { checkOutputDir, type OutputDirState } from "./output_dir.ts";
export { modelSize, readSafetensorsHeader, type ModelSize } from "./model_size.ts";
