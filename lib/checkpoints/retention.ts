import { existsSync, readFileSync, readdirSync, realpathSync } from "node:fs";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { UserError } from "../util/errors.ts";
import { dirBytes, formatBytes } from "../util/fs.ts";
import { checkpointUsers, type LockDeps } from "./lock.ts";
import { listCheckpoints, type CheckpointInfo, type EvalEntry } from "./scan.ts";
import { slimCheckpoint, slimRefusal, type SlimFs, nodeSlimFs } from "./slim.ts";

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/**
 * One term of a retention policy. A policy is one term or several joined by "+"; a checkpoint is
 * kept when any term keeps it (union). The standard-mode default is `best:1+last:N`.
 */
export type PolicyTerm =
  | { kind: "all" }
  | { kind: "last"; n: number }
  | { kind: "best"; n: number }
  | { kind: "top"; k: number; metric: string };

export interface RetentionPolicy {
  text: string;
  terms: PolicyTerm[];
}

const TERM_HELP = "all | last:N | best:N | top:K:<metric>, or several joined by '+' (e.g. best:1+last:2)";

export function parsePolicy(text: string, source = "retention policy"): RetentionPolicy {
  const raw = text.trim();
  if (!raw) throw new UserError(`${source} is empty`, { hint: `use ${TERM_HELP}` });
  const terms: PolicyTerm[] = raw.split("+").map((part) => {
    const t = part.trim();
    let m: RegExpExecArray | null;
    if (t === "all") return { kind: "all" };
    if ((m = /^last:([1-9][0-9]*)$/.exec(t))) return { kind: "last", n: Number(m[1]) };
    if ((m = /^best:([1-9][0-9]*)$/.exec(t))) return { kind: "best", n: Number(m[1]) };
    if ((m = /^top:([1-9][0-9]*):([A-Za-z0-9_.-]+)$/.exec(t))) return { kind: "top", k: Number(m[1]), metric: m[2] };
    throw new UserError(`${source}: '${t}' is not a retention policy`, {
      hint: `use ${TERM_HELP}; N and K are whole numbers >= 1`,
    });
  });
  return { text: terms.map(formatTerm).join("+"), terms };
}

function formatTerm(t: PolicyTerm): string {
  switch (t.kind) {
    case "all":
      return "all";
    case "last":
      return `last:${t.n}`;
    case "best":
      return `best:${t.n}`;
    case "top":
      return `top:${t.k}:${t.metric}`;
  }
}

/** The parts of the resolved config that decide retention. */
export interface RetentionConfig {
  training?: {
    skip_evaluation?: boolean;
    save_all_checkpoints?: boolean;
    save_total_limit?: number;
    best_model_tracking?: { enabled?: boolean; save_best_only?: boolean; metric?: string; greater_is_better?: boolean };
    checkpoint?: { retention?: string; keep_optimizer_states?: number };
  };
}

/**
 * The policy a run applies: `all` under skip_evaluation (the no-eval contract: every checkpoint
 * is kept; the schema forces it too, this guards configs that skipped resolution);
 * training.checkpoint.retention when set; `all` with save_all_checkpoints; `best:1` (the best
 * plus the newest) with save_best_only; else `best:1+last:<save_total_limit>` (`last:N` when
 * best-model tracking is off).
 */
export function defaultPolicy(config: RetentionConfig): string {
  const t = config.training ?? {};
  if (t.skip_evaluation) return "all";
  const explicit = t.checkpoint?.retention?.trim();
  if (explicit) return explicit;
  if (t.save_all_checkpoints) return "all";
  const tracking = t.best_model_tracking ?? {};
  const limit = Math.max(1, t.save_total_limit ?? 2);
  if (tracking.enabled === false) return `last:${limit}`;
  if (tracking.save_best_only) return "best:1";
  return `best:1+last:${limit}`;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

export interface MetricValue {
  name: string;
  value: number;
  /** Where it came from, e.g. "full eval", "partial eval", "training_info". */
  source: string;
}

function evalTime(e: EvalEntry): number {
  const t = Date.parse(e.evaluated_at ?? "");
  return Number.isFinite(t) ? t : -Infinity;
}

/**
 * The value of a metric for one checkpoint. Which record wins, in order:
 * 1. eval_results.json, split "full", the newest (evaluated_at);
 * 2. eval_results.json, any other split except "partial", the newest;
 * 3. eval_results.json, split "partial", the newest;
 * 4. training_info.json eval_metrics (the evaluation done during training);
 * 5. a numeric top-level field of training_info.json (train_loss, grad_norm, ...).
 */
export function metricOf(ckpt: Pick<CheckpointInfo, "info" | "evalResults">, name: string): MetricValue | null {
  const entries = Object.values(ckpt.evalResults ?? {}).filter(
    (e) => e && typeof e === "object" && typeof e.metrics?.[name] === "number" && Number.isFinite(e.metrics[name]),
  );
  const rank = (e: EvalEntry) => (e.split === "full" ? 0 : e.split === "partial" ? 2 : 1);
  entries.sort((a, b) => rank(a) - rank(b) || evalTime(b) - evalTime(a));
  if (entries.length) {
    const e = entries[0];
    return { name, value: e.metrics[name] as number, source: `${e.split} eval` };
  }
  const em = ckpt.info?.eval_metrics?.[name];
  if (typeof em === "number" && Number.isFinite(em)) return { name, value: em, source: "training_info eval" };
  const top = ckpt.info?.[name];
  if (typeof top === "number" && Number.isFinite(top)) return { name, value: top, source: "training_info" };
  return null;
}

/** Lower is better for losses and error rates; higher for everything else. */
export function greaterIsBetterFor(metric: string): boolean {
  return !/(loss|error|err_rate|perplexity|^wer$|^cer$)/i.test(metric);
}

// ---------------------------------------------------------------------------------------------
// Plan (pure)
// ---------------------------------------------------------------------------------------------

export type RetentionAction = "keep" | "delete" | "slim" | "skip";

export interface PlanRow {
  name: string;
  path: string;
  step: number;
  action: RetentionAction;
  /** Every reason that applied, most important first; `reason` joins them. */
  reasons: string[];
  reason: string;
  metric: MetricValue | null;
  /** Bytes the action frees, from training_info.json bytes (an estimate; apply measures). */
  bytes: number;
}

export interface RetentionPlan {
  policy: string;
  rows: PlanRow[];
  warnings: string[];
}

export interface PlanParams {
  /** Checkpoints of one run, complete and incomplete (as listCheckpoints({includeIncomplete:true})). */
  checkpoints: CheckpointInfo[];
  policy: string | RetentionPolicy;
  /** The tracked best checkpoint(s) (path or name): never deleted. */
  bestPath?: string | string[] | null;
  /** The metric best:N ranks by; default: newest training_info.metric_name, else accuracy. */
  trackedMetric?: { name?: string | null; greaterIsBetter?: boolean | null };
  /** keep_optimizer_states: deepspeed/ stays in the newest N complete checkpoints only; 0 = everywhere. */
  slimKeep?: number;
}

function fmtMetric(m: MetricValue | null): string {
  return m ? `${m.name}=${Number(m.value.toPrecision(6))} (${m.source})` : "";
}

/** Decides keep / delete / slim / skip for every checkpoint. Pure: reads nothing, changes nothing. */
export function planRetention(params: PlanParams): RetentionPlan {
  const policy = typeof params.policy === "string" ? parsePolicy(params.policy) : params.policy;
  const slimKeep = params.slimKeep ?? 0;
  const warnings: string[] = [];
  const all = [...params.checkpoints].sort((a, b) => a.step - b.step);
  const complete = all.filter((c) => c.complete && c.info);
  const newest = complete.at(-1);

  // Tracked metric (best:N) and its direction.
  const trackedName =
    params.trackedMetric?.name ??
    [...complete].reverse().find((c) => typeof c.info?.metric_name === "string" && c.info.metric_name)?.info?.metric_name ??
    "accuracy";
  const trackedGreater = params.trackedMetric?.greaterIsBetter ?? greaterIsBetterFor(trackedName);

  // Tracked best: the explicit path(s), and the newest checkpoint whose training_info says is_best.
  const bestNames = new Set<string>();
  for (const p of [params.bestPath ?? []].flat()) if (p) bestNames.add(basename(p.replace(/[\\/]+$/, "")));
  const newestIsBest = [...complete].reverse().find((c) => c.info?.is_best === true);
  if (newestIsBest) bestNames.add(newestIsBest.name);

  const keepReasons = new Map<string, string[]>();
  const addKeep = (c: CheckpointInfo, why: string) => {
    const list = keepReasons.get(c.name) ?? [];
    list.push(why);
    keepReasons.set(c.name, list);
  };
  const dropReasons = new Map<string, string[]>();
  const addDrop = (c: CheckpointInfo, why: string) => {
    const list = dropReasons.get(c.name) ?? [];
    list.push(why);
    dropReasons.set(c.name, list);
  };
  const shownMetric = new Map<string, MetricValue | null>();

  const rankBy = (term: string, name: string, greater: boolean, count: number) => {
    const withMetric = complete
      .map((c) => ({ c, m: metricOf(c, name) }))
      .filter((x): x is { c: CheckpointInfo; m: MetricValue } => x.m !== null);
    for (const c of complete) if (!shownMetric.has(c.name)) shownMetric.set(c.name, metricOf(c, name));
    if (withMetric.length === 0) {
      warnings.push(`${term}: no checkpoint has '${name}' recorded; nothing to rank, so ${term} deletes nothing (evaluate first: bun run tasks/evaluate.ts --all <output_dir>)`);
      for (const c of complete) addKeep(c, `${term}: no '${name}' recorded anywhere (nothing to rank)`);
      return;
    }
    // Best first; ties go to the earlier checkpoint (the first to reach the value).
    withMetric.sort((a, b) => (greater ? b.m.value - a.m.value : a.m.value - b.m.value) || a.c.step - b.c.step);
    withMetric.forEach(({ c, m }, i) => {
      if (i < count) addKeep(c, `${term}: #${i + 1} by ${name} (${Number(m.value.toPrecision(6))})`);
      else addDrop(c, `not in ${term} (#${i + 1} by ${name})`);
    });
    for (const c of complete) if (!metricOf(c, name)) addDrop(c, `no '${name}' recorded`);
  };

  for (const term of policy.terms) {
    const label = formatTerm(term);
    if (term.kind === "all") {
      for (const c of complete) addKeep(c, "policy all");
    } else if (term.kind === "last") {
      complete.forEach((c, i) => {
        const fromEnd = complete.length - i;
        if (fromEnd <= term.n) addKeep(c, `${label}: #${fromEnd} newest`);
        else addDrop(c, `not in ${label}`);
      });
    } else if (term.kind === "best") {
      rankBy(label, trackedName, trackedGreater, term.n);
      if (newest) addKeep(newest, `${label}: the newest is always kept`);
    } else {
      const greater = term.metric === trackedName ? trackedGreater : greaterIsBetterFor(term.metric);
      rankBy(label, term.metric, greater, term.k);
    }
  }

  // Safety rules: the newest complete checkpoint and the tracked best are never deleted.
  if (newest) addKeep(newest, "newest complete checkpoint (resume needs it): protected");
  for (const c of complete) if (bestNames.has(c.name)) addKeep(c, "tracked best checkpoint: protected");

  // Slimming candidates: kept, older than the newest slimKeep complete checkpoints.
  const fullStateNames = new Set(slimKeep > 0 ? complete.slice(-slimKeep).map((c) => c.name) : complete.map((c) => c.name));

  const rows: PlanRow[] = all.map((c) => {
    const base = { name: c.name, path: c.path, step: c.step, metric: shownMetric.get(c.name) ?? null };
    if (!c.complete || !c.info) {
      const reasons = ["no training_info.json (incomplete or foreign): never touched"];
      return { ...base, action: "skip" as const, reasons, reason: reasons[0], bytes: 0 };
    }
    const info = c.info;
    const keep = keepReasons.get(c.name);
    if (!keep) {
      const reasons = dropReasons.get(c.name) ?? [`not kept by ${policy.text}`];
      return { ...base, action: "delete" as const, reasons, reason: reasons.join("; "), bytes: info.bytes?.total ?? 0 };
    }
    const reasons = [...keep];
    const hasState = info.has_deepspeed_state !== false && !info.slim;
    if (slimKeep > 0 && !fullStateNames.has(c.name) && hasState) {
      if (info.has_hf_model === false) {
        reasons.push(`not slimmed: no hf_model/ (export it first: bun run tasks/export.ts --checkpoint ${c.path})`);
      } else {
        reasons.unshift(`slim: older than the newest ${slimKeep} with optimizer state`);
        return { ...base, action: "slim" as const, reasons, reason: reasons.join("; "), bytes: info.bytes?.deepspeed ?? 0 };
      }
    }
    if (info.slim) reasons.push("slim (no optimizer state)");
    return { ...base, action: "keep" as const, reasons, reason: reasons.join("; "), bytes: 0 };
  });
  return { policy: policy.text, rows, warnings };
}

// ---------------------------------------------------------------------------------------------
// Apply (reads the run folder, deletes and slims)
// ---------------------------------------------------------------------------------------------

/** File-system calls applyRetention makes; tests inject recorders or failures through it. */
export interface RetentionFs extends SlimFs {
  realpath(path: string): string;
}

export const nodeRetentionFs: RetentionFs = {
  ...nodeSlimFs,
  realpath: (p) => realpathSync(p),
};

export interface AppliedRow extends PlanRow {
  /** Bytes actually freed (measured before acting; in a dry run, what would be freed). */
  freedBytes: number;
  done: boolean;
  error?: string;
}

export interface RetentionResult {
  outputDir: string;
  policy: string;
  dryRun: boolean;
  rows: AppliedRow[];
  freedBytes: number;
  warnings: string[];
  /** Rows whose action failed (the others were still applied). */
  failed: number;
}

export interface ApplyParams {
  outputDir: string;
  policy: string | RetentionPolicy;
  slimKeep?: number;
  bestPath?: string | string[] | null;
  dryRun?: boolean;
  log?: (line: string) => void;
  fs?: RetentionFs;
  /** Liveness of the processes named by checkpoint in-use locks (lib/checkpoints/lock.ts); tests inject it. */
  locks?: Pick<LockDeps, "host" | "isAlive">;
}

function readJsonOrNull(path: string): any {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
}

/** The tracked best checkpoint(s) recorded by the run: best_checkpoint.json and the last `end` event. */
export function recordedBestPaths(outputDir: string): string[] {
  const out: string[] = [];
  const best = readJsonOrNull(join(outputDir, "best_checkpoint.json"));
  if (typeof best === "string") out.push(best);
  else if (best && typeof best === "object") {
    for (const k of ["path", "checkpoint", "best_checkpoint", "name"]) if (typeof best[k] === "string") out.push(best[k]);
  }
  const events = join(outputDir, "logs", "events.jsonl");
  if (existsSync(events)) {
    const lines = readFileSync(events, "utf8").split("\n");
    for (let i = lines.length - 1; i >= 0; i--) {
      if (!lines[i].includes('"end"')) continue;
      try {
        const e = JSON.parse(lines[i]);
        if (e.event === "end") {
          if (typeof e.best_checkpoint === "string") out.push(e.best_checkpoint);
          break;
        }
      } catch {
        // a torn last line while the run is writing: ignore
      }
    }
  }
  return out;
}

/** training.best_model_tracking of OUT/resolved_config.json, if present. */
function trackedFromResolved(outputDir: string): { name?: string; greaterIsBetter?: boolean } {
  const resolved = readJsonOrNull(join(outputDir, "resolved_config.json"));
  const t = resolved?.config?.training?.best_model_tracking;
  return {
    name: typeof t?.metric === "string" ? t.metric : undefined,
    greaterIsBetter: typeof t?.greater_is_better === "boolean" ? t.greater_is_better : undefined,
  };
}

function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

/**
 * Plans and executes retention on a run folder. Safety: folders without training_info.json,
 * symlinked checkpoint folders, and anything whose real path leaves output_dir are never touched;
 * the newest complete checkpoint and the tracked best are never deleted. A deleted checkpoint is
 * first renamed to .checkpoint-N.deleting-<pid> (it stops being a checkpoint at once), then removed.
 */
export function applyRetention(params: ApplyParams): RetentionResult {
  const fs = params.fs ?? nodeRetentionFs;
  const log = params.log ?? (() => {});
  const dryRun = params.dryRun ?? false;
  const outputDir = resolve(params.outputDir);
  const policy = typeof params.policy === "string" ? parsePolicy(params.policy) : params.policy;
  const checkpoints = listCheckpoints({ outputDir, includeIncomplete: true });
  const root = fs.realpath(outputDir);
  const warnings: string[] = [];

  // Safety pre-filter: checkpoint-N entries that are symlinks (scan lists only real directories),
  // and folders whose real path is not strictly inside output_dir.
  const unsafe: AppliedRow[] = [];
  for (const entry of readdirSync(outputDir, { withFileTypes: true })) {
    if (entry.isSymbolicLink() && /^checkpoint-\d+$/.test(entry.name)) {
      const reasons = ["symlink: never followed or deleted through"];
      unsafe.push({
        name: entry.name, path: join(outputDir, entry.name), step: Number(entry.name.slice(11)), action: "skip",
        reasons, reason: reasons[0], metric: null, bytes: 0, freedBytes: 0, done: false,
      });
    }
  }
  const safe = checkpoints.filter((c) => {
    let real: string;
    try {
      real = fs.realpath(c.path);
    } catch {
      real = "";
    }
    if (real && isInside(root, real)) return true;
    const reasons = [`real path ${real || "(unresolvable)"} is outside ${root}: never touched`];
    unsafe.push({ name: c.name, path: c.path, step: c.step, action: "skip", reasons, reason: reasons[0], metric: null, bytes: 0, freedBytes: 0, done: false });
    return false;
  });

  // The tracked best: what the caller knows plus what the run recorded (both are protected).
  const bestPath = [...[params.bestPath ?? []].flat(), ...recordedBestPaths(outputDir)];
  const plan = planRetention({
    checkpoints: safe,
    policy,
    bestPath,
    trackedMetric: trackedFromResolved(outputDir),
    slimKeep: params.slimKeep,
  });
  warnings.push(...plan.warnings);
  for (const w of plan.warnings) log(`warning: ${w}`);

  // Leftovers of an interrupted deletion are ours to finish (never a checkpoint: no checkpoint-N name).
  if (!dryRun) {
    for (const entry of readdirSync(outputDir, { withFileTypes: true })) {
      if (entry.isDirectory() && /^\.checkpoint-\d+\.deleting-\d+$/.test(entry.name)) {
        const p = join(outputDir, entry.name);
        const bytes = dirBytes(p);
        try {
          fs.rm(p);
          log(`removed leftover ${entry.name} of an interrupted deletion (${formatBytes(bytes)} freed)`);
        } catch (err) {
          warnings.push(`could not remove leftover ${p}: ${(err as Error).message}`);
        }
      }
    }
  }

  const rows: AppliedRow[] = [];
  for (const row of plan.rows) {
    const applied: AppliedRow = { ...row, freedBytes: 0, done: dryRun ? false : row.action === "keep" || row.action === "skip" };
    try {
      if (row.action === "delete" || row.action === "slim") {
        // A checkpoint an export, push or evaluation is reading stays whole until it is done.
        const users = checkpointUsers({ checkpoint: row.path, ...params.locks });
        if (!dryRun) {
          for (const stale of users.stale) {
            fs.rm(stale);
            log(`${row.name}: removed stale lock ${basename(stale)} (its process is gone)`);
          }
        }
        if (users.live.length) {
          const who = users.live.map((l) => `${l.purpose} (pid ${l.pid} on ${l.host}, since ${l.started_at})`).join(", ");
          applied.action = "keep";
          applied.reasons = [`in use by ${who}: not ${row.action === "delete" ? "deleted" : "slimmed"} while it runs`, ...row.reasons];
          applied.reason = applied.reasons.join("; ");
          applied.done = !dryRun;
        }
      }
      if (applied.action === "delete") {
        applied.freedBytes = dirBytes(row.path);
        if (!dryRun) {
          const doomed = join(outputDir, `.${row.name}.deleting-${process.pid}`);
          fs.rename(row.path, doomed);
          fs.rm(doomed);
          applied.done = true;
        }
      } else if (applied.action === "slim") {
        const refusal = slimRefusal(row.path);
        if (refusal) {
          applied.action = "keep";
          applied.reasons = [...row.reasons.slice(1), `not slimmed: ${refusal}`];
          applied.reason = applied.reasons.join("; ");
          applied.done = !dryRun;
        } else {
          const r = slimCheckpoint({ path: row.path, dryRun, fs });
          applied.freedBytes = r.freedBytes;
          applied.done = !dryRun;
        }
      }
    } catch (err) {
      applied.error = err instanceof Error ? err.message : String(err);
      applied.done = false;
    }
    rows.push(applied);
    const verb = dryRun ? "would free" : "freed";
    const bytesNote = applied.action === "delete" || applied.action === "slim" ? `, ${verb} ${formatBytes(applied.freedBytes)}` : "";
    log(
      `${dryRun ? "[dry-run] " : ""}${row.name}: ${applied.action}${applied.error ? " FAILED" : ""} (${applied.reason}${row.metric ? `; ${fmtMetric(row.metric)}` : ""})${bytesNote}${applied.error ? `: ${applied.error}` : ""}`,
    );
  }
  for (const u of unsafe) log(`${u.name}: skip (${u.reason})`);
  const allRows = [...rows, ...unsafe].sort((a, b) => a.step - b.step);
  return {
    outputDir,
    policy: plan.policy,
    dryRun,
    rows: allRows,
    freedBytes: allRows.reduce((n, r) => n + (r.error ? 0 : r.freedBytes), 0),
    warnings,
    failed: allRows.filter((r) => r.error).length,
  };
}

export { fmtMetric as formatMetric };

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/** The table tasks/prune.ts prints: checkpoint, step, metric, action, reason, bytes; then the total. */
export function formatRetentionTable(result: RetentionResult): string {
  const verb = result.dryRun ? "would free" : "freed";
  const header = ["checkpoint", "step", "metric", "action", "bytes", "reason"];
  const body = result.rows.map((r) => [
    r.name,
    String(r.step),
    r.metric ? `${r.metric.name}=${Number(r.metric.value.toPrecision(4))}` : "-",
    (result.dryRun && (r.action === "delete" || r.action === "slim") ? `${r.action} (dry-run)` : r.action) + (r.error ? " FAILED" : ""),
    r.action === "delete" || r.action === "slim" ? formatBytes(r.freedBytes) : "-",
    r.error ? `${r.reason}: ${r.error}` : r.reason,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (i === 5 ? 0 : row[i].length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === 5 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  const counts = (a: RetentionAction) => result.rows.filter((r) => r.action === a).length;
  return [
    `output_dir: ${result.outputDir}`,
    `policy: ${result.policy}${result.dryRun ? "  (dry run: nothing changed)" : ""}`,
    "",
    line(header),
    ...body.map(line),
    "",
    `kept ${counts("keep")}, slimmed ${counts("slim")}, deleted ${counts("delete")}, skipped ${counts("skip")}` +
      `${result.failed ? `, FAILED ${result.failed}` : ""}; total ${verb}: ${formatBytes(result.freedBytes)}`,
  ].join("\n") + "\n";
}
