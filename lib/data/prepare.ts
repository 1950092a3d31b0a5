// tasks/prepare.ts's one entry point: convert a layout, or check the data and the disk of a config.
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { QwenClassifyConfig } from "../../generated/config.ts";
import { preflight, type PreflightResult } from "../preflight/disk.ts";
import { checkOutputDir } from "../preflight/output_dir.ts";
import { findModelDir, type ModelSize } from "../preflight/model_size.ts";
import { checkModelSource, hubModelId, HubUnreachableError, modelSizeFromHub } from "../hub/model_source.ts";
import { demoAssetsToBuild } from "../config/demo.ts";
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { checkData, type DataReport, type DeepDecoder } from "./check.ts";
import { convertFolder } from "./convert_folder.ts";
import { convertFood101 } from "./convert_food101.ts";
import { convertHf, type ConvertHfParams } from "./convert_hf.ts";
import type { ConvertResult } from "./convert_output.ts";
import { makeDeepDecoder } from "./deep.ts";
import { plotHistogram } from "./plot.ts";
import { silentProgress, type ProgressFactory } from "./progress.ts";
import { projectPython } from "../util/python.ts";
import { runEngineProcess, type SpawnEngine } from "../util/engine_process.ts";
import { formatDataReport } from "./report.ts";

export type PrepareMode =
  | { kind: "from-folder"; root: string; out: string; valRatio?: number; seed?: number }
  | { kind: "from-food101"; root: string; out: string }
  | ({ kind: "from-hf" } & Pick<ConvertHfParams, "source" | "outDir" | "split" | "imageColumn" | "labelColumn" | "labelsFile" | "revision">)
  | {
      kind: "check";
      config: QwenClassifyConfig;
      configHash: string;
      deep?: boolean;
      /** Where data_report.png (and data_report.json) go; default: the folder of data.train_jsonl. */
      reportDir?: string;
      allowLowDisk?: boolean;
    };

export interface PrepareParams {
  mode: PrepareMode;
  json?: boolean;
  progress?: ProgressFactory;
  deepDecoder?: DeepDecoder;
  plot?: typeof plotHistogram;
  statfs?: typeof statfsSync;
  hasGpu?: boolean;
  /** Builds the demo's model/data when the config asks for them and they are missing. */
  buildDemoAssets?: (config: QwenClassifyConfig) => Promise<void>;
  /** Where progress notes go (stderr). */
  log?: (line: string) => void;
}

export interface PrepareResult {
  exitCode: number;
  /** What the task prints on stdout: the text report, or JSON with --json. */
  output: string;
}

export async function prepare(params: PrepareParams): Promise<PrepareResult> {
  const { mode } = params;
  if (mode.kind === "from-hf") {
    const { kind: _kind, ...rest } = mode;
    const r = await convertHf({ ...rest, progress: params.progress });
    const failed = r.check !== null && !r.check.ok;
    const text = formatConversion(r) + (r.check ? `\ndata check of the converted files:\n${formatDataReport(r.check)}` : "") +
      `\nconverted ${(r.counts.train + r.counts.val).toLocaleString("en-US")} images in ${r.seconds.toFixed(1)} s (${r.imagesPerS.toFixed(1)} images/s)\n`;
    return { exitCode: failed ? 2 : 0, output: params.json ? JSON.stringify(r, null, 2) + "\n" : text };
  }
  if (mode.kind === "from-folder" || mode.kind === "from-food101") {
    const r = mode.kind === "from-folder" ? convertFolder({ root: mode.root, outDir: mode.out, valRatio: mode.valRatio, seed: mode.seed }) : convertFood101({ root: mode.root, outDir: mode.out });
    return { exitCode: 0, output: params.json ? JSON.stringify(r, null, 2) + "\n" : formatConversion(r) };
  }
  return checkAndPreflight({ ...params, mode });
}

function formatConversion(r: ConvertResult): string {
  const out = [
    `wrote ${r.files.train} (${r.counts.train.toLocaleString("en-US")} lines)`,
    `      ${r.files.val} (${r.counts.val.toLocaleString("en-US")} lines)`,
    `      ${r.files.labels} (${r.classNames.length} classes)`,
  ];
  for (const w of r.warnings) out.push(`warning: ${w}`);
  out.push("", "paste into your config:", "", ...r.snippet.trimEnd().split("\n").map((l) => `  ${l}`), "", "then check it: bun run tasks/prepare.ts --config <your config>");
  return out.join("\n") + "\n";
}

/** Runs qc_engine.demo_assets on a temporary resolved config (the launcher's arguments, through the engine-process runner). */
export async function buildDemoAssetsWithEngine(
  config: QwenClassifyConfig,
  log: (l: string) => void = (l) => process.stderr.write(l + "\n"),
  spawn?: SpawnEngine,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "qc-prepare-"));
  try {
    const resolved = join(dir, "resolved_config.json");
    writeFileSync(resolved, JSON.stringify({ config }));
    const { exitCode: code } = await runEngineProcess<never>({
      argv: [projectPython(), "-m", "qc_engine.demo_assets", "--resolved", resolved],
      what: "demo assets",
      parseLine: () => null, // its lines are progress notes: all relayed
      onLog: (line) => log(line),
      spawn,
    });
    if (code !== 0) throw new UserError(`building the demo assets failed (python -m qc_engine.demo_assets exited ${code})`, { hint: "run `bun run setup`, then try again" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function checkAndPreflight(params: PrepareParams & { mode: Extract<PrepareMode, { kind: "check" }> }): Promise<PrepareResult> {
  const { mode } = params;
  const { config } = mode;
  const log = params.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const notes: string[] = [];

  const { model: wantsModel, data: wantsData } = demoAssetsToBuild({ config });
  if (wantsModel || wantsData) {
    log(`building demo assets (${[wantsModel && "tiny model", wantsData && "digits data set"].filter(Boolean).join(", ")}) ...`);
    await (params.buildDemoAssets ?? ((c) => buildDemoAssetsWithEngine(c, log)))(config);
  }

  // 1. the data
  const report = await checkData({
    config,
    deep: mode.deep,
    deepDecoder: mode.deep ? (params.deepDecoder ?? makeDeepDecoder()) : undefined,
    progress: params.progress ?? silentProgress,
  });

  // 2. the histogram plot (and the JSON report) beside the data
  const reportDir = mode.reportDir ?? dirname(config.data.train_jsonl);
  let plotPath: string | null = null;
  if (report.splits.train.exists || report.splits.val.exists) {
    try {
      mkdirSync(reportDir, { recursive: true });
      const target = join(reportDir, "data_report.png");
      const failure = await (params.plot ?? plotHistogram)({ rows: report.histogram, outPath: target, title: `${report.classes.dataset ?? "data"}: class histogram` });
      if (failure) notes.push(`no plot: ${failure}`);
      else plotPath = target;
    } catch (err) {
      notes.push(`no plot: cannot write into ${reportDir} (${(err as Error).message})`);
    }
  }

  // 3. the output folder and the disk
  let outputDirNote: string | null = null;
  try {
    const state = checkOutputDir({ outputDir: config.training.output_dir, configHash: mode.configHash });
    if (state.state === "same") outputDirNote = `${config.training.output_dir} holds ${state.checkpoints.length} checkpoint(s) of this config (tasks/train.ts --resume continues from them)`;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    outputDirNote = `tasks/train.ts will refuse: ${err.message} (${err.hint})`;
  }
  let disk: PreflightResult | null = null;
  let diskError: UserError | null = null;
  try {
    const modelSize = await hubModelSize(config, notes); // a Hub id not downloaded yet: sizes from the Hub
    disk = await preflight({
      modelSize,
      config,
      allowLowDisk: mode.allowLowDisk,
      statfs: params.statfs,
      hasGpu: params.hasGpu,
      numTrainSamples: report.splits.train.exists ? report.splits.train.validSamples : undefined,
    });
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    diskError = err;
  }

  const exitCode = report.ok && !diskError ? 0 : 2;
  if (params.json) {
    const doc = {
      ok: exitCode === 0,
      data: report,
      plot: plotPath,
      output_dir: outputDirNote,
      preflight: disk ? { ...disk, text: undefined } : null,
      preflight_error: diskError ? { message: diskError.message, hint: diskError.hint } : null,
      notes,
    };
    const text = JSON.stringify(doc, null, 2) + "\n";
    if (report.splits.train.exists) {
      try {
        writeFileAtomic(join(reportDir, "data_report.json"), text);
      } catch {
        // the JSON is printed anyway
      }
    }
    return { exitCode, output: text };
  }
  const out = [formatDataReport(report).trimEnd()];
  if (plotPath) out.push(`histogram plot: ${plotPath}`);
  for (const n of notes) out.push(`note: ${n}`);
  out.push("");
  if (outputDirNote) out.push(`output_dir: ${outputDirNote}`);
  if (disk) out.push(disk.text.trimEnd());
  if (diskError) {
    out.push(`error: ${diskError.message}`);
    if (diskError.hint) out.push(`hint: ${diskError.hint}`);
  }
  out.push("", exitCode === 0 ? "prepare: OK" : `prepare: FAILED (${[!report.ok && "data problems", diskError && "not enough disk"].filter(Boolean).join(", ")})`);
  return { exitCode, output: out.join("\n") + "\n" };
}

/** A Hub model id that is not on this machine: its size from the Hub listing and safetensors headers. */
async function hubModelSize(config: QwenClassifyConfig, notes: string[]): Promise<ModelSize | undefined> {
  if (!hubModelId(config) || findModelDir({ name: config.model.pretrained_name })) return undefined;
  let check;
  try {
    check = await checkModelSource({ config }); // a refusal (no repo, no access) is reported like a disk problem
  } catch (err) {
    if (!(err instanceof HubUnreachableError)) throw err;
    notes.push(`${err.message}: model size unknown`);
    return undefined;
  }
  if (check.kind !== "hub" || check.offline) return undefined;
  notes.push(check.text);
  return modelSizeFromHub(check, config.model.num_labels);
}

export type { DataReport };
