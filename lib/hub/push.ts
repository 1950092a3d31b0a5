// Carries out a push plan with @huggingface/hub: repo, branches, and one commit per target that
// holds only what changed. Idempotent: files the branch already has (same sha256 / git oid) are
// not sent again, and the Hub's LFS batch skips objects it stores, so an interrupted push that is
// run again completes without re-sending what already arrived.
import {
  commitIter,
  createBranch,
  createRepo,
  HubApiError,
  listFiles,
  repoExists,
  type CommitOperation,
  type ListFileEntry,
} from "@huggingface/hub";
import { lockCheckpoint } from "../checkpoints/lock.ts";
import { UserError } from "../util/errors.ts";
import { formatBytes } from "../util/fs.ts";
import { gitBlobSha1Of, sha256Of } from "./hash.ts";
import type { PlannedFile, PushPlan, PushTarget } from "./plan.ts";
import { silentProgress, type PushProgress } from "./progress.ts";
import { createRetryingFetch, type RetryEvent } from "./retry.ts";
import { redact } from "./token.ts";

export const DEFAULT_HUB_URL = "https://huggingface.co";

export type TargetStatus = "pushed" | "pull-request" | "up-to-date" | "failed";

export interface TargetReport {
  checkpoint: string;
  checkpointPath: string;
  step: number;
  branch: string;
  status: TargetStatus;
  /** Commit or pull-request URL. */
  url?: string;
  commitOid?: string;
  /** Files in the commit (changed or new). */
  filesChanged: string[];
  filesUnchanged: number;
  filesDeleted: string[];
  /** LFS bytes really uploaded (objects the Hub did not have). */
  lfsBytesSent: number;
  error?: string;
  /** How to finish a failed push later. */
  resumeCommand?: string;
}

export interface PushReport {
  repo: string;
  hubUrl: string;
  repoCreated: boolean;
  targets: TargetReport[];
  ok: boolean;
  retries: number;
}

export interface ExecutePushParams {
  plan: PushPlan;
  token: string;
  /** Safe description of where the token came from (for messages). */
  tokenSource?: string;
  hubUrl?: string;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  retries?: number;
  baseDelayMs?: number;
  progress?: PushProgress;
  /**
   * Offer the Xet protocol to the Hub (default false: classic LFS, "basic" or "multipart" transfers,
   * which the Hub accepts for every repo and which the test Hub exercises).
   */
  useXet?: boolean;
}

/** 401/403 from the Hub: stop at once, never retried. */
export class HubAuthError extends UserError {
  constructor(message: string, hint: string) {
    super(message, { exitCode: 2, hint });
    this.name = "HubAuthError";
  }
}

function isAuthFailure(err: unknown): err is HubApiError {
  return err instanceof HubApiError && (err.statusCode === 401 || err.statusCode === 403);
}

export function describeError(err: unknown, token?: string): string {
  let text: string;
  if (err instanceof HubApiError) text = `HTTP ${err.statusCode}: ${err.message}`;
  else if (err instanceof Error) text = err.message;
  else text = String(err);
  return redact(text, token);
}

function authError(err: HubApiError, params: { repo: string; hubUrl: string; tokenSource?: string; token: string }): HubAuthError {
  const ns = params.repo.split("/")[0];
  const what = err.statusCode === 401 ? "refused the token" : `denied write access to ${params.repo}`;
  return new HubAuthError(
    `${params.hubUrl} ${what} (HTTP ${err.statusCode})${params.tokenSource ? `; token from ${params.tokenSource}` : ""}: ${redact(err.message, params.token)}`,
    err.statusCode === 401
      ? "the token is wrong, expired or revoked: create a new one with write access at https://huggingface.co/settings/tokens and set HF_TOKEN"
      : `use a token with write permission on the namespace '${ns}' (fine-grained tokens need "write" on that repo or organisation)`,
  );
}

export function resumeCommand(params: { target: Pick<PushTarget, "checkpointPath" | "branch" | "createPr">; repo: string; hubUrl: string }): string {
  const args = ["bun", "run", "tasks/push.ts", "--checkpoint", params.target.checkpointPath, "--repo", params.repo];
  if (params.target.branch !== "main") args.push("--revision", params.target.branch);
  if (params.target.createPr) args.push("--create-pr");
  if (params.hubUrl !== DEFAULT_HUB_URL) args.push("--hub-url", params.hubUrl);
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
}

/** Remote files of a branch by path; null when the branch does not exist. */
async function remoteFiles(p: { repo: string; branch: string; hubUrl: string; token: string; fetch: typeof fetch }): Promise<Map<string, ListFileEntry> | null> {
  const out = new Map<string, ListFileEntry>();
  try {
    for await (const entry of listFiles({ repo: p.repo, revision: p.branch, recursive: true, hubUrl: p.hubUrl, accessToken: p.token, fetch: p.fetch })) {
      if (entry.type === "file") out.set(entry.path, entry);
    }
  } catch (err) {
    if (err instanceof HubApiError && err.statusCode === 404) return null;
    throw err;
  }
  return out;
}

/** Does the remote entry hold exactly this local file? */
export async function sameContent(local: PlannedFile, remote: ListFileEntry | undefined): Promise<boolean> {
  if (!remote) return false;
  if (remote.lfs) {
    if (remote.lfs.size !== local.size) return false;
    return (await sha256Of(local.content)) === remote.lfs.oid;
  }
  if (remote.size !== local.size || !remote.oid) return false;
  return (await gitBlobSha1Of(local.content, local.size)) === remote.oid;
}

const MODEL_ARTIFACT_RE = /(\.safetensors|\.safetensors\.index\.json|\.bin|\.bin\.index\.json|\.pt|\.pth)$|^eval_results\.json$/;

/**
 * Remote files to delete so the branch matches the checkpoint: on a branch of its own everything
 * not in the checkpoint (but .gitattributes); elsewhere only stale weights and eval_results.json,
 * so files a user added to main by hand survive.
 */
export function staleFiles(remote: Iterable<string>, local: Set<string>, ownBranch: boolean): string[] {
  const out: string[] = [];
  for (const path of remote) {
    if (local.has(path) || path === ".gitattributes") continue;
    if (ownBranch || MODEL_ARTIFACT_RE.test(path.split("/").pop() ?? path) || path === "eval_results.json") out.push(path);
  }
  return out.sort();
}

function blobOf(f: PlannedFile): Blob {
  return f.content.kind === "file" ? Bun.file(f.content.path) : new Blob([f.content.data as Uint8Array<ArrayBuffer>]);
}

async function pushTarget(
  target: PushTarget,
  ctx: { repo: string; hubUrl: string; token: string; fetch: typeof fetch; progress: PushProgress; useXet?: boolean },
): Promise<TargetReport> {
  const label = `${target.checkpointName} -> ${ctx.repo}@${target.branch}${target.createPr ? " (pull request)" : ""}`;
  const base: TargetReport = {
    checkpoint: target.checkpointName,
    checkpointPath: target.checkpointPath,
    step: target.step,
    branch: target.branch,
    status: "up-to-date",
    filesChanged: [],
    filesUnchanged: 0,
    filesDeleted: [],
    lfsBytesSent: 0,
  };
  let remote = await remoteFiles({ ...ctx, branch: target.branch });
  if (remote === null) {
    if (target.createPr) {
      throw new UserError(`branch ${target.branch} does not exist in ${ctx.repo}: a pull request needs an existing target branch`, {
        hint: "push without --create-pr first, or target main",
      });
    }
    try {
      await createBranch({ repo: ctx.repo, branch: target.branch, hubUrl: ctx.hubUrl, accessToken: ctx.token, fetch: ctx.fetch });
    } catch (err) {
      // Created meanwhile (a retried request that had landed, or a parallel push): fine.
      if (!(err instanceof HubApiError && err.statusCode === 409)) throw err;
    }
    remote = (await remoteFiles({ ...ctx, branch: target.branch })) ?? new Map();
  }

  const changed: PlannedFile[] = [];
  for (const f of target.files) {
    if (await sameContent(f, remote.get(f.pathInRepo))) base.filesUnchanged++;
    else changed.push(f);
  }
  const deleted = staleFiles(remote.keys(), new Set(target.files.map((f) => f.pathInRepo)), target.ownBranch);
  if (!changed.length && !deleted.length) {
    ctx.progress.note(`[push] ${label}: up to date (${target.files.length} files already there)`);
    return base;
  }

  ctx.progress.startTarget(label, changed.map((f) => ({ path: f.pathInRepo, size: f.size })), base.filesUnchanged);
  const operations: CommitOperation[] = [
    ...changed.map((f): CommitOperation => ({ operation: "addOrUpdate", path: f.pathInRepo, content: blobOf(f) })),
    ...deleted.map((path): CommitOperation => ({ operation: "delete", path })),
  ];
  const firstUpload = new Map<string, number>();
  const sizes = new Map(changed.map((f) => [f.pathInRepo, f.size]));
  const iter = commitIter({
    repo: ctx.repo,
    operations,
    title: target.commitTitle,
    description: `${target.reason}. Pushed with qwen-classify (tasks/push.ts).`,
    branch: target.branch,
    isPullRequest: target.createPr,
    hubUrl: ctx.hubUrl,
    accessToken: ctx.token,
    fetch: ctx.fetch,
    useXet: ctx.useXet ?? false,
  });
  let ok = false;
  try {
    let step = await iter.next();
    while (!step.done) {
      const e = step.value;
      if (e.event === "phase") ctx.progress.phase(e.phase);
      else {
        if (e.state === "uploading" && !firstUpload.has(e.path)) firstUpload.set(e.path, e.progress);
        ctx.progress.file(e.path, e.state, e.progress);
      }
      step = await iter.next();
    }
    const out = step.value;
    ok = true;
    base.status = target.createPr ? "pull-request" : "pushed";
    base.commitOid = out?.commit.oid;
    base.url = out?.pullRequestUrl ?? out?.commit.url;
  } finally {
    // An LFS file counts as sent when its upload started from 0 (the Hub asked for it).
    for (const [path, first] of firstUpload) if (first < 1) base.lfsBytesSent += sizes.get(path) ?? 0;
    base.filesChanged = changed.map((f) => f.pathInRepo);
    base.filesDeleted = deleted;
    const line = ok
      ? `[push] ${label}: ${base.status === "pull-request" ? "pull request opened" : "committed"} ${changed.length} file(s)` +
        `${deleted.length ? `, removed ${deleted.length}` : ""}, ${base.filesUnchanged} unchanged, ${formatBytes(base.lfsBytesSent)} of LFS sent${base.url ? ` — ${base.url}` : ""}`
      : `[push] ${label}: failed`;
    ctx.progress.endTarget(line, ok);
  }
  return base;
}

/** Runs a plan. Throws HubAuthError on 401/403 (at once); any other failure is reported per target. */
export async function executePush(params: ExecutePushParams): Promise<PushReport> {
  const { plan, token } = params;
  const hubUrl = (params.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, "");
  const progress = params.progress ?? silentProgress;
  const retrying = createRetryingFetch({
    fetch: params.fetch,
    retries: params.retries,
    baseDelayMs: params.baseDelayMs,
    sleep: params.sleep,
    onRetry: (e: RetryEvent) => progress.retry({ ...e, reason: redact(e.reason, token) }),
  });
  const ctx = { repo: plan.repo, hubUrl, token, fetch: retrying, progress, useXet: params.useXet };
  const report: PushReport = { repo: plan.repo, hubUrl, repoCreated: false, targets: [], ok: true, retries: 0 };
  const authCtx = { repo: plan.repo, hubUrl, tokenSource: params.tokenSource, token };

  try {
    if (!(await repoExists({ repo: plan.repo, hubUrl, accessToken: token, fetch: retrying }))) {
      try {
        await createRepo({
          repo: plan.repo,
          ...(plan.private === undefined ? {} : { visibility: plan.private ? ("private" as const) : ("public" as const) }),
          hubUrl,
          accessToken: token,
          fetch: retrying,
        });
        report.repoCreated = true;
        progress.note(`[push] created ${plan.private ? "private " : ""}repository ${hubUrl}/${plan.repo}`);
      } catch (err) {
        if (!(err instanceof HubApiError && err.statusCode === 409)) throw err;
      }
    }
  } catch (err) {
    progress.stop();
    if (isAuthFailure(err)) throw authError(err, authCtx);
    throw new UserError(`cannot reach or create ${plan.repo} at ${hubUrl}: ${describeError(err, token)}`, {
      exitCode: 1,
      hint: `check the network and --hub-url, then run the same command again (pushes resume): ${plan.targets.map((t) => resumeCommand({ target: t, repo: plan.repo, hubUrl }))[0] ?? ""}`,
    });
  }

  for (const target of plan.targets) {
    // Retention and prune leave a checkpoint alone while it is being pushed (lib/checkpoints/lock.ts).
    const release = lockCheckpoint({ checkpoint: target.checkpointPath, purpose: "push" });
    try {
      report.targets.push(await pushTarget(target, ctx));
    } catch (err) {
      if (isAuthFailure(err)) {
        progress.stop();
        throw authError(err, authCtx);
      }
      report.ok = false;
      report.targets.push({
        checkpoint: target.checkpointName,
        checkpointPath: target.checkpointPath,
        step: target.step,
        branch: target.branch,
        status: "failed",
        filesChanged: [],
        filesUnchanged: 0,
        filesDeleted: [],
        lfsBytesSent: 0,
        error: err instanceof UserError ? redact(err.message, token) : describeError(err, token),
        resumeCommand: resumeCommand({ target, repo: plan.repo, hubUrl }),
      });
    } finally {
      release();
    }
  }
  progress.stop();
  report.retries = retrying.stats.retries;
  return report;
}

/** Human summary of a push report, one line per target. */
export function formatReport(report: PushReport): string {
  const lines: string[] = [];
  for (const t of report.targets) {
    const where = `${report.repo}@${t.branch}`;
    if (t.status === "failed") {
      lines.push(`FAILED  ${t.checkpoint} -> ${where}: ${t.error}`);
      if (t.resumeCommand) lines.push(`        finish it later with: ${t.resumeCommand}`);
    } else if (t.status === "up-to-date") {
      lines.push(`ok      ${t.checkpoint} -> ${where}: already up to date (${t.filesUnchanged} files)`);
    } else {
      lines.push(
        `ok      ${t.checkpoint} -> ${where}: ${t.status === "pull-request" ? "pull request" : "commit"} with ${t.filesChanged.length} file(s)` +
          `${t.filesDeleted.length ? `, ${t.filesDeleted.length} removed` : ""}, ${formatBytes(t.lfsBytesSent)} LFS sent${t.url ? `: ${t.url}` : ""}`,
      );
    }
  }
  if (report.retries) lines.push(`(${report.retries} transient failure(s) retried)`);
  return lines.join("\n") + "\n";
}
