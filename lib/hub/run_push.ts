// tasks/push.ts in one call: defaults from the run's resolved config, token, plan, then a dry-run
// listing or the push itself, and the report.
import { dirname, resolve } from "node:path";
import { existsSync } from "node:fs";
import { UserError } from "../util/errors.ts";
import { checkRepoId, formatPlan, planPush, readResolvedConfig, type PushMode } from "./plan.ts";
import { createPushProgress, type PushProgress } from "./progress.ts";
import { DEFAULT_HUB_URL, executePush, formatReport, type PushReport } from "./push.ts";
import { redact, requireToken } from "./token.ts";

export interface RunPushParams {
  checkpoint?: string;
  all?: string;
  best?: string;
  repo?: string;
  revision?: string;
  private?: boolean;
  createPr?: boolean;
  /** LoRA checkpoints: send adapter/ alone. */
  adapterOnly?: boolean;
  dryRun?: boolean;
  tokenFile?: string;
  hubUrl?: string;
  env?: Record<string, string | undefined>;
  homeDir?: string;
  stdout?: { write(s: string): unknown };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  progress?: PushProgress;
}

export interface RunPushResult {
  exitCode: number;
  report: PushReport | null;
}

function chooseMode(p: RunPushParams): { mode: PushMode; path: string } {
  const given = (["checkpoint", "all", "best"] as const).filter((k) => p[k] !== undefined);
  if (given.length !== 1) {
    throw new UserError(given.length ? `--${given.join(" and --")} are exclusive` : "nothing to push", {
      hint: "pass exactly one of --checkpoint CHECKPOINT_DIR, --all OUTPUT_DIR, --best OUTPUT_DIR",
    });
  }
  const mode = given[0];
  const path = p[mode]!;
  if (!path.trim()) throw new UserError(`--${mode} needs a path`, { hint: "e.g. --checkpoint out/run/checkpoint-800" });
  return { mode, path: resolve(path) };
}

export async function runPush(p: RunPushParams): Promise<RunPushResult> {
  const { mode, path } = chooseMode(p);
  const stdout = p.stdout ?? process.stdout;
  const outputDir = mode === "checkpoint" ? dirname(path) : path;
  const hubConfig = (existsSync(outputDir) ? readResolvedConfig(outputDir) : null)?.config?.hub ?? {};

  const repo = p.repo || hubConfig.repo_id;
  if (!repo) {
    throw new UserError("no target repository", {
      hint: "pass --repo namespace/name (or set hub.repo_id in the run's config)",
    });
  }
  checkRepoId(repo, p.repo ? "--repo" : "hub.repo_id");
  const hubUrl = (p.hubUrl || hubConfig.endpoint || DEFAULT_HUB_URL).replace(/\/+$/, "");
  if (!/^https?:\/\/[^\s/]+/.test(hubUrl)) {
    throw new UserError(`--hub-url '${hubUrl}' is not an http(s) URL`, { hint: "e.g. https://huggingface.co" });
  }
  const isPrivate = p.private ? true : typeof hubConfig.private === "boolean" ? hubConfig.private : undefined;

  const plan = planPush({ mode, path, repo, revision: p.revision, private: isPrivate, createPr: p.createPr, adapterOnly: p.adapterOnly });
  if (p.dryRun) {
    stdout.write(formatPlan(plan, hubUrl));
    stdout.write("dry run: nothing was sent\n");
    return { exitCode: 0, report: null };
  }

  const { token, source } = requireToken({ env: p.env, tokenFile: p.tokenFile, homeDir: p.homeDir });
  for (const s of plan.skipped) (p.stderr ?? process.stderr).write(`warning: skipped ${s.name}: ${s.reason}\n`);
  try {
    const report = await executePush({
      plan,
      token,
      tokenSource: source,
      hubUrl,
      fetch: p.fetch,
      sleep: p.sleep,
      progress: p.progress ?? createPushProgress({ stream: p.stderr }),
    });
    stdout.write(redact(formatReport(report), token));
    return { exitCode: report.ok ? 0 : 1, report };
  } catch (err) {
    if (err instanceof Error) {
      err.message = redact(err.message, token);
      if (err.stack) err.stack = redact(err.stack, token);
    }
    throw err;
  }
}
