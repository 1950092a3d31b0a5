// lib/config public surface.
export { resolveConfig, absolutizePaths, configHash, REPO_ROOT, DEMO_CONFIG_PATH, type ResolveParams, type ResolvedConfig } from "./resolve.ts";
export { ConfigError, formatProblems, type ConfigProblem } from "./problems.ts";
export { formatOverrideReport } from "./report.ts";
export { applyOverrides, type OverrideRow, type ValueSource } from "./overrides.ts";
export { buildDeepSpeedConfig, effectivePrecision } from "./deepspeed.ts";
export { renderConfigOptionsHelp } from "./help.ts";
export { selectDataset } from "./crosscheck.ts";
export type { QwenClassifyConfig, QwenClassifyConfigInput } from "../../generated/config.ts";
