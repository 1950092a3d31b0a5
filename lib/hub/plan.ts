// What a push sends where: checkpoints -> target branches -> files. Pure planning; sends nothing.
import { type ManifestEntry, verifyCheckpoint } from "../checkpoints/manifest.ts";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { greaterIsBetterFor, metricOf, recordedBestPaths } from "../checkpoints/retention.ts";
import { listCheckpoints, readCheckpoint, type CheckpointInfo } from "../checkpoints/scan.ts";
import { hfModelProblem } from "../checkpoints/slim.ts";
import { UserError } from "../util/errors.ts";
import { formatBytes } from "../util/fs.ts";
import type { FileContent } from "./hash.ts";
import { renderModelCard, type ResolvedConfigFile } from "./model_card.ts";

export type PushMode = "checkpoint" | "all" | "best";

export interface PlannedFile {
  /** Path inside the repository. */
  pathInRepo: string;
  size: number;
  content: FileContent;
}

export interface PushTarget {
  checkpointName: string;
  checkpointPath: string;
  step: number;
  branch: string;
  /** A branch that holds one checkpoint and nothing else (checkpoint-<step>): stale files are removed. */
  ownBranch: boolean;
  /** Open a pull request against `branch` instead of committing to it. */
  createPr: boolean;
  files: PlannedFile[];
  commitTitle: string;
  /** Why this checkpoint goes there (best by ..., final, asked for). */
  reason: string;
}

export interface PushPlan {
  repo: string;
  /** undefined: leave it to the Hub (only used when the repo is created). */
  private?: boolean;
  outputDir: string;
  targets: PushTarget[];
  /** Checkpoints left out and why (e.g. no hf_model/). */
  skipped: { name: string; reason: string }[];
}

export interface PlanPushParams {
  mode: PushMode;
  /** A checkpoint folder (mode checkpoint) or a run's output_dir (all, best). */
  path: string;
  repo: string;
  /** Branch for --checkpoint/--best, and for the best one with --all (default main). */
  revision?: string;
  private?: boolean;
  createPr?: boolean;
  /** LoRA checkpoints: send adapter/ (peft format) instead of the merged hf_model/. */
  adapterOnly?: boolean;
}

/** Branches named checkpoint-<step> hold one checkpoint and nothing else. */
export const OWN_BRANCH_RE = /^checkpoint-\d+$/;

const REPO_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function checkRepoId(repo: string, source = "--repo"): string {
  if (!REPO_RE.test(repo) || repo.includes("..") || repo.length > 200) {
    throw new UserError(`${source} '${repo}' is not a repository id`, {
      hint: "use namespace/name, e.g. me/food101-qwen (letters, digits, '-', '_', '.')",
    });
  }
  return repo;
}

export function checkBranchName(branch: string, source = "--revision"): string {
  if (!branch || /[\s~^:?*\[\\]|\.\.|^\/|\/$|^refs\/pr\//.test(branch)) {
    throw new UserError(`${source} '${branch}' is not a valid branch name`, {
      hint: "use a plain branch name such as main or checkpoint-800 (use --create-pr to open a pull request)",
    });
  }
  return branch;
}

export function readResolvedConfig(outputDir: string): ResolvedConfigFile | null {
  const path = join(outputDir, "resolved_config.json");
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new UserError(`${path} is not valid JSON: ${(err as Error).message}`, {
      hint: "restore it from the run, or move it away to push without the training settings",
    });
  }
}

function readJsonOrNull(path: string): Record<string, any> | null {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
}

function walk(dir: string, root: string, out: PlannedFile[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith(".")) continue; // editor/OS files, temporary files
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walk(full, root, out);
    else if (entry.isFile()) out.push({ pathInRepo: relative(root, full).split("\\").join("/"), size: statSync(full).size, content: { kind: "file", path: full } });
  }
}

export interface BestChoice {
  checkpoint: CheckpointInfo;
  reason: string;
}

/**
 * The checkpoint that goes to main. In order: the best by a full evaluation of the tracked
 * metric; the best the run recorded (best_checkpoint.json / end event); the best by any
 * evaluation; else the final (newest) one.
 */
export function chooseBest(params: { checkpoints: CheckpointInfo[]; outputDir: string; resolved: ResolvedConfigFile | null }): BestChoice | null {
  const { checkpoints } = params;
  if (!checkpoints.length) return null;
  const tracking = params.resolved?.config?.training?.best_model_tracking ?? {};
  const metric: string = typeof tracking.metric === "string" ? tracking.metric : "accuracy";
  const greater: boolean = typeof tracking.greater_is_better === "boolean" ? tracking.greater_is_better : greaterIsBetterFor(metric);
  const scored = checkpoints
    .map((c) => ({ c, m: metricOf(c, metric) }))
    .filter((x): x is { c: CheckpointInfo; m: NonNullable<typeof x.m> } => x.m !== null);
  const pick = (list: typeof scored) =>
    list.reduce((best, x) =>
      (greater ? x.m.value > best.m.value : x.m.value < best.m.value) || (x.m.value === best.m.value && x.c.step > best.c.step) ? x : best,
    );
  const full = scored.filter((x) => x.m.source === "full eval");
  if (full.length) {
    const b = pick(full);
    return { checkpoint: b.c, reason: `best by ${metric} = ${Number(b.m.value.toPrecision(6))} (full evaluation)` };
  }
  const recorded = recordedBestPaths(params.outputDir).map((p) => resolve(params.outputDir, p));
  const rec = checkpoints.find((c) => recorded.includes(resolve(c.path)) || recorded.some((r) => r.endsWith(`/${c.name}`)));
  if (rec) return { checkpoint: rec, reason: "the best checkpoint the run tracked" };
  if (scored.length) {
    const b = pick(scored);
    return { checkpoint: b.c, reason: `best by ${metric} = ${Number(b.m.value.toPrecision(6))} (${b.m.source})` };
  }
  const final = checkpoints.filter((c) => c.info?.is_final).at(-1) ?? checkpoints.at(-1)!;
  return { checkpoint: final, reason: final.info?.is_final ? "nothing was evaluated: the final checkpoint" : "nothing was evaluated: the newest checkpoint" };
}

/** Files of one checkpoint as they land in the repo: hf_model/* at the root, metadata, README.md. */
export function checkpointFiles(params: {
  checkpoint: CheckpointInfo;
  repo: string;
  branch: string;
  resolved: ResolvedConfigFile | null;
  reason?: string;
  adapterOnly?: boolean;
}): PlannedFile[] {
  const { checkpoint: c } = params;
  if (params.adapterOnly) return adapterFiles(params);
  const problem = hfModelProblem(c.path);
  if (problem) {
    throw new UserError(`${c.path}: ${problem}; there is nothing loadable to push`, {
      hint: `export it first: bun run tasks/export.ts --checkpoint ${c.path}`,
    });
  }
  // The checksum manifest (lib/checkpoints/manifest.ts): sizes of what is pushed; deepspeed/ is not read.
  verifyCheckpoint({ dir: c.path, info: c.info as { files?: Record<string, ManifestEntry> } | null, skipPrefixes: ["deepspeed/"] });
  const files: PlannedFile[] = [];
  const hf = join(c.path, "hf_model");
  walk(hf, hf, files);
  const kept = files.filter((f) => f.pathInRepo !== "README.md" && f.pathInRepo !== "training_info.json" && f.pathInRepo !== "eval_results.json");
  for (const name of ["training_info.json", "eval_results.json"]) {
    const p = join(c.path, name);
    if (existsSync(p)) kept.push({ pathInRepo: name, size: statSync(p).size, content: { kind: "file", path: p } });
  }
  const card = renderModelCard({
    repoId: params.repo,
    revision: params.branch,
    checkpointName: c.name,
    step: c.step,
    info: c.info,
    evalResults: c.evalResults,
    resolved: params.resolved,
    hfConfig: readJsonOrNull(join(hf, "config.json")),
    selection: params.reason,
  });
  const data = new TextEncoder().encode(card);
  kept.push({ pathInRepo: "README.md", size: data.length, content: { kind: "bytes", data } });
  return kept;
}

/** --adapter-only: adapter/ at the repo root (loads with peft on top of the base model), metadata, README.md. */
function adapterFiles(params: { checkpoint: CheckpointInfo; repo: string; branch: string; resolved: ResolvedConfigFile | null; reason?: string }): PlannedFile[] {
  const { checkpoint: c } = params;
  const lora = c.info?.lora;
  const dir = join(c.path, lora?.adapter_dir ?? "adapter");
  if (!lora || !existsSync(join(dir, "adapter_config.json"))) {
    throw new UserError(`${c.path}: --adapter-only needs a LoRA checkpoint with adapter/adapter_config.json`, {
      hint: "push it without --adapter-only (the full hf_model/)",
    });
  }
  const files: PlannedFile[] = [];
  walk(dir, dir, files);
  const kept = files.filter((f) => f.pathInRepo !== "README.md");
  for (const name of ["training_info.json", "eval_results.json"]) {
    const p = join(c.path, name);
    if (existsSync(p)) kept.push({ pathInRepo: name, size: statSync(p).size, content: { kind: "file", path: p } });
  }
  const info = { ...c.info!, lora: { ...lora, hf_model: "absent" as const } }; // the card describes what is sent
  const card = renderModelCard({ repoId: params.repo, revision: params.branch, checkpointName: c.name, step: c.step, info, evalResults: c.evalResults, resolved: params.resolved, selection: params.reason });
  const data = new TextEncoder().encode(card);
  kept.push({ pathInRepo: "README.md", size: data.length, content: { kind: "bytes", data } });
  return kept;
}

/** One target: checkpoint c pushed to branch (used by planPush and the background pusher). */
export function checkpointTarget(
  c: CheckpointInfo,
  branch: string,
  opts: { repo: string; resolved: ResolvedConfigFile | null; createPr: boolean; reason: string; adapterOnly?: boolean },
): PushTarget {
  return {
    checkpointName: c.name,
    checkpointPath: c.path,
    step: c.step,
    branch,
    ownBranch: OWN_BRANCH_RE.test(branch),
    createPr: opts.createPr,
    files: checkpointFiles({ checkpoint: c, repo: opts.repo, branch, resolved: opts.resolved, reason: opts.reason, adapterOnly: opts.adapterOnly }),
    commitTitle: `Upload ${c.name} (step ${c.step})`,
    reason: opts.reason,
  };
}

export function planPush(params: PlanPushParams): PushPlan {
  const repo = checkRepoId(params.repo);
  const revision = checkBranchName(params.revision ?? "main");
  const createPr = params.createPr ?? false;
  const skipped: PushPlan["skipped"] = [];

  if (params.mode === "checkpoint") {
    const c = readCheckpoint(params.path);
    const outputDir = dirname(c.path);
    // A self-contained checkpoint carries its own resolved_config.json (a lone copy has no OUT/ beside it).
    const resolved = readResolvedConfig(outputDir) ?? readResolvedConfig(c.path);
    return {
      repo,
      private: params.private,
      outputDir,
      targets: [checkpointTarget(c, revision, { repo, resolved, createPr, reason: "asked for with --checkpoint", adapterOnly: params.adapterOnly })],
      skipped,
    };
  }

  const outputDir = resolve(params.path);
  if (existsSync(join(outputDir, "training_info.json"))) {
    throw new UserError(`${outputDir} is a checkpoint, not a run's output_dir`, {
      hint: `use --checkpoint ${outputDir}, or pass its parent folder to --${params.mode}`,
    });
  }
  const all = listCheckpoints({ outputDir });
  const usable: CheckpointInfo[] = [];
  for (const c of all) {
    const problem = params.adapterOnly ? (existsSync(join(c.path, "adapter", "adapter_config.json")) ? null : "no adapter/ (not a LoRA checkpoint)") : hfModelProblem(c.path);
    if (problem) skipped.push({ name: c.name, reason: `${problem} (export it: bun run tasks/export.ts --checkpoint ${c.path})` });
    else usable.push(c);
  }
  if (!usable.length) {
    throw new UserError(`no complete checkpoint with an hf_model/ in ${outputDir}`, {
      hint: skipped.length ? `found ${skipped.map((s) => `${s.name} (${s.reason})`).join("; ")}` : "train first, or pass the run's training.output_dir",
    });
  }
  const resolved = readResolvedConfig(outputDir);
  const best = chooseBest({ checkpoints: usable, outputDir, resolved })!;
  const targets: PushTarget[] = [
    checkpointTarget(best.checkpoint, revision, { repo, resolved, createPr, reason: best.reason, adapterOnly: params.adapterOnly }),
  ];
  if (params.mode === "all") {
    for (const c of usable) {
      const branch = `checkpoint-${c.step}`;
      if (branch === revision) continue;
      targets.push(checkpointTarget(c, branch, { repo, resolved, createPr: false, reason: `every checkpoint on its own branch`, adapterOnly: params.adapterOnly }));
    }
  }
  return { repo, private: params.private, outputDir, targets, skipped };
}

/** The dry-run listing: target branches, files and sizes. */
export function formatPlan(plan: PushPlan, hubUrl: string): string {
  const lines: string[] = [];
  let total = 0;
  lines.push(`repo ${plan.repo} at ${hubUrl}${plan.private === undefined ? "" : plan.private ? " (private if created)" : " (public if created)"}`);
  for (const t of plan.targets) {
    const bytes = t.files.reduce((s, f) => s + f.size, 0);
    total += bytes;
    lines.push(
      `${t.checkpointName} -> ${t.createPr ? `pull request against ${t.branch}` : `branch ${t.branch}`} (${t.reason}): ${t.files.length} files, ${formatBytes(bytes)}`,
    );
    for (const f of t.files) lines.push(`  ${f.pathInRepo.padEnd(40)} ${formatBytes(f.size).padStart(10)}`);
  }
  for (const s of plan.skipped) lines.push(`skipped ${s.name}: ${s.reason}`);
  lines.push(`total ${plan.targets.length} target(s), ${formatBytes(total)} before de-duplication (identical files are sent once)`);
  return lines.join("\n") + "\n";
}
