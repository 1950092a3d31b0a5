// model.pretrained_name as a Hub model id: checked before anything is launched (repo, revision,
// token, download size; nothing written), then downloaded ONCE by `python -m qc_engine.hub_model`
// (huggingface_hub's cache, resumable) before torchrun, and the run's resolved_config.json rewritten:
//   config.model.pretrained_name -> the snapshot folder the engine loads (every rank, no download)
//   model_source                 -> {kind: "hub", repo_id, revision, commit, path, files, bytes}
// config_hash stays the hash of the config as the user wrote it (the Hub id), so the output_dir
// checks and resume see the same run whatever the snapshot path.
import { existsSync, readFileSync, statfsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { listFiles as hubListFiles, modelInfo as hubModelInfo } from "@huggingface/hub";
import { UserError } from "../util/errors.ts";
import { engineEnv, runEngineProcess, type SpawnEngine } from "../util/engine_process.ts";
import { formatBytes, writeFileAtomic } from "../util/fs.ts";
import { projectPython } from "../util/python.ts";
import type { ModelSize } from "../preflight/model_size.ts";
import { resolveToken } from "./token.ts";

type Env = Record<string, string | undefined>;
const HUB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const WEIGHT_FILE = /\.(safetensors|bin|pt|pth|ckpt|gguf)$/;

export interface ModelSourceConfig {
  model: { pretrained_name: string; revision?: string };
  demo?: { build_tiny_model?: boolean };
}

export interface HubModelCheck {
  kind: "hub";
  repoId: string;
  revision: string;
  /** The commit the revision points at now (null offline). */
  commit: string | null;
  endpoint: string;
  files: { path: string; size: number }[];
  /** Bytes of the repository at that revision (what a first download fetches). */
  totalBytes: number;
  /** Bytes of weight files (safetensors, ...), the part the disk preflight counts as the model. */
  weightBytes: number;
  offline: boolean;
  /** Tensors of the safetensors shards, from their headers read with HTTP Range (no weights downloaded). */
  tensors: { name: string; dtype: string; shape: number[] }[] | null;
  text: string;
}

export type ModelSourceCheck = { kind: "local"; path: string } | HubModelCheck;

/** A Hub id that is not a local folder (and not the demo's tiny model, built locally). */
export function hubModelId(config: ModelSourceConfig, exists: (p: string) => boolean = existsSync): string | null {
  const name = config.model.pretrained_name;
  if (config.demo?.build_tiny_model || exists(name) || !HUB_ID_RE.test(name)) return null;
  return name;
}

export function hubEndpoint(env: Env): string {
  return (env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
}

/** huggingface_hub's cache folder (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub). */
export function hubCacheDir(env: Env): string {
  return env.HF_HUB_CACHE ?? join(env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface"), "hub");
}

const offlineEnv = (env: Env) => ["1", "true", "yes", "on"].includes((env.HF_HUB_OFFLINE ?? "").toLowerCase());

export interface CheckModelSourceParams {
  config: ModelSourceConfig;
  env?: Env;
  exists?: (p: string) => boolean;
  /** Injected for tests (default @huggingface/hub). */
  modelInfo?: typeof hubModelInfo;
  listFiles?: typeof hubListFiles;
}

/** Before launch, writes nothing: the repo and revision exist, the token can read them, the size. */
export async function checkModelSource(p: CheckModelSourceParams): Promise<ModelSourceCheck> {
  const env = p.env ?? process.env;
  const repoId = hubModelId(p.config, p.exists);
  if (!repoId) return { kind: "local", path: p.config.model.pretrained_name };
  const revision = p.config.model.revision || "main";
  const endpoint = hubEndpoint(env);
  if (offlineEnv(env)) return checkCached({ repoId, revision, endpoint, env });
  const token = resolveToken({ env })?.token;
  const auth = { hubUrl: endpoint, ...(token ? { accessToken: token } : {}) };
  let commit: string | null = null;
  const files: { path: string; size: number }[] = [];
  try {
    const info = await (p.modelInfo ?? hubModelInfo)({ name: repoId, revision, additionalFields: ["sha"], ...auth } as never);
    commit = ((info as unknown as { sha?: string }).sha ?? null) as string | null;
    for await (const f of (p.listFiles ?? hubListFiles)({ repo: { type: "model", name: repoId }, revision: commit ?? revision, recursive: true, ...auth })) {
      if (f.type === "file") files.push({ path: f.path, size: f.lfs?.size ?? f.size });
    }
  } catch (err) {
    throw explainHubError(err, { repoId, revision, endpoint, hasToken: Boolean(token) });
  }
  if (!files.some((f) => f.path === "config.json")) {
    throw new UserError(`model.pretrained_name ${repoId}@${revision}: the repository has no config.json; is it a model repository?`);
  }
  const tensors = await readHubSafetensors({ endpoint, repoId, commit: commit ?? revision, files, token });
  const totalBytes = files.reduce((a, f) => a + f.size, 0);
  const weightBytes = files.filter((f) => WEIGHT_FILE.test(f.path)).reduce((a, f) => a + f.size, 0);
  const cached = commit && existsSync(join(hubCacheDir(env), `models--${repoId.replace("/", "--")}`, "snapshots", commit));
  const text = `model: ${repoId}@${revision} (commit ${commit?.slice(0, 12) ?? "?"}) on ${endpoint}: ${files.length} file(s), ` +
    `${formatBytes(totalBytes)}${cached ? " (snapshot already in the cache)" : ` to download into ${hubCacheDir(env)}`}` +
    (tensors ? `; ${tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0).toLocaleString("en-US")} parameters in its safetensors headers` : "");
  return { kind: "hub", repoId, revision, commit, endpoint, files, totalBytes, weightBytes, offline: false, tensors, text };
}

function checkCached(p: { repoId: string; revision: string; endpoint: string; env: Env }): HubModelCheck {
  const repoDir = join(hubCacheDir(p.env), `models--${p.repoId.replace("/", "--")}`);
  let commit: string | null = /^[0-9a-f]{40}$/.test(p.revision) ? p.revision : null;
  try {
    commit ??= readFileSync(join(repoDir, "refs", p.revision), "utf8").trim();
  } catch {
    commit = null;
  }
  const snapshot = commit ? join(repoDir, "snapshots", commit) : "";
  if (!commit || !existsSync(join(snapshot, "config.json"))) {
    throw new UserError(`model.pretrained_name ${p.repoId}@${p.revision}: HF_HUB_OFFLINE is set and it is not in the cache ${hubCacheDir(p.env)}`, {
      hint: "download it once with network access (unset HF_HUB_OFFLINE), or point model.pretrained_name at a local folder",
    });
  }
  return { kind: "hub", repoId: p.repoId, revision: p.revision, commit, endpoint: p.endpoint, files: [], totalBytes: 0, weightBytes: 0, offline: true, tensors: null, text: `model: ${p.repoId}@${p.revision} from the cache (HF_HUB_OFFLINE): ${snapshot}` };
}

/**
 * The JSON headers of the repo's *.safetensors files, read with two HTTP Range requests each (8 bytes
 * of length, then the header), so the disk preflight counts parameters exactly before any download.
 * null when a server does not honour Range or a header is unreadable (the preflight then says so).
 */
export async function readHubSafetensors(p: { endpoint: string; repoId: string; commit: string; files: { path: string }[]; token?: string; fetch?: typeof fetch }): Promise<HubModelCheck["tensors"]> {
  const get = p.fetch ?? fetch;
  const tensors: NonNullable<HubModelCheck["tensors"]> = [];
  const shards = p.files.filter((f) => f.path.endsWith(".safetensors"));
  if (!shards.length) return null;
  const range = async (path: string, from: number, to: number): Promise<Uint8Array | null> => {
    const res = await get(`${p.endpoint}/${p.repoId}/resolve/${encodeURIComponent(p.commit)}/${path}`, {
      headers: { Range: `bytes=${from}-${to}`, ...(p.token ? { Authorization: `Bearer ${p.token}` } : {}) },
    });
    if (res.status !== 206) return null;
    const body = new Uint8Array(await res.arrayBuffer());
    return body.length === to - from + 1 ? body : null;
  };
  try {
    for (const f of shards) {
      const len = await range(f.path, 0, 7);
      if (!len) return null;
      const n = Number(new DataView(len.buffer, len.byteOffset, 8).getBigUint64(0, true));
      if (n <= 0 || n > 100 * 1024 * 1024) return null;
      const head = await range(f.path, 8, 8 + n - 1);
      if (!head) return null;
      const json = JSON.parse(new TextDecoder().decode(head)) as Record<string, { dtype: string; shape: number[] }>;
      for (const [name, t] of Object.entries(json)) if (name !== "__metadata__") tensors.push({ name, dtype: t.dtype, shape: t.shape });
    }
  } catch {
    return null;
  }
  return tensors;
}

/** The disk preflight's ModelSize for a Hub model that is not on this machine yet. */
export function modelSizeFromHub(check: HubModelCheck, numLabels: number): ModelSize {
  const config = check.files.filter((f) => !WEIGHT_FILE.test(f.path) && !f.path.endsWith(".index.json")).reduce((a, f) => a + f.size, 0);
  if (!check.tensors) {
    return { params: 0, visionParams: 0, hiddenSize: null, extraFileBytes: config, source: "unknown", modelDir: null, detail: `${check.repoId}: the Hub did not give its safetensors headers` };
  }
  let params = 0;
  let vision = 0;
  let hidden: number | null = null;
  for (const t of check.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (/(^|\.)lm_head\./.test(t.name)) continue; // the classifier replaces it with a small head
    if (/embed_tokens\.weight$/.test(t.name)) hidden = t.shape[1] ?? hidden;
    params += n;
    if (/(^|\.)visual\./.test(t.name)) vision += n;
  }
  const head = hidden ? hidden * numLabels + numLabels : 0;
  return { params: params + head, visionParams: vision, hiddenSize: hidden, extraFileBytes: config, source: "safetensors", modelDir: null, detail: `${check.repoId}@${check.commit?.slice(0, 12)}: safetensors headers read from the Hub (${formatBytes(check.weightBytes)} of weights, not downloaded yet)` };
}

/** A Hub answer -> the message a user can act on (exit 2). */
export function explainHubError(err: unknown, c: { repoId: string; revision: string; endpoint: string; hasToken: boolean }): UserError {
  const status = (err as { statusCode?: number }).statusCode;
  const detail = err instanceof Error ? err.message : String(err);
  if (status === 401 || status === 403) {
    // The Hub's own words (the error message also carries the URL, whose expand= list names "gated").
    const said = String((err as { data?: { error?: unknown } }).data?.error ?? "");
    const gated = /restricted|gated/i.test(said);
    return new UserError(
      `model.pretrained_name ${c.repoId}: ${gated ? "the repository is gated" : "the Hub refuses access (private, or no such repository)"}` +
        ` and ${c.hasToken ? "the token (HF_TOKEN) cannot read it" : "no token is set"} (HTTP ${status} from ${c.endpoint})`,
      { hint: c.hasToken ? "use a token with read access to it (and accept its terms on the Hub if it is gated)" : "set HF_TOKEN to a token with read access (hf_...)" },
    );
  }
  if (status === 404 && /revision/i.test(String((err as { data?: { error?: unknown } }).data?.error ?? ""))) {
    return new UserError(`model.revision ${c.revision}: ${c.repoId} has no such branch, tag or commit (${c.endpoint})`, {
      hint: "use an existing branch, tag or commit hash, or main",
    });
  }
  if (status === 404) {
    return new UserError(`model.pretrained_name ${c.repoId}: no such model repository on ${c.endpoint}, and no such local folder`, {
      hint: "check the id (namespace/name), or give the path of a local model folder",
    });
  }
  return new HubUnreachableError(`model.pretrained_name ${c.repoId}: cannot reach the Hub at ${c.endpoint} (${detail})`, {
    hint: "check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use a cached copy",
  });
}

/** No answer from the Hub (network, DNS, 5xx): a launch stops; a data check only notes it. */
export class HubUnreachableError extends UserError {}

/** The download needs room in the cache folder (checked before anything starts). */
export function checkCacheSpace(check: HubModelCheck, env: Env, statfs: typeof statfsSync = statfsSync): void {
  if (check.offline || check.totalBytes === 0) return;
  let dir = hubCacheDir(env);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  const st = statfs(dir);
  const free = Number(st.bavail) * Number(st.bsize);
  if (free < check.totalBytes) {
    throw new UserError(`model.pretrained_name ${check.repoId}: ${formatBytes(check.totalBytes)} to download but ${formatBytes(free)} free at ${dir}`, {
      hint: "free space there, or set HF_HUB_CACHE to a folder on a larger disk",
    });
  }
}

export interface DownloadedModel {
  repo_id: string;
  revision: string;
  commit: string;
  path: string;
}

type HubModelEvent =
  | { event: "start"; repo_id: string; revision: string }
  | { event: "progress"; what: string; downloaded: number; total: number }
  | ({ event: "done" } & DownloadedModel)
  | { event: "error"; message: string; exit_code?: number };

/** Runs qc_engine.hub_model on the resolved config (one process: one download, whatever the ranks). */
export async function downloadModel(p: { resolvedPath: string; env?: Env; python?: string; spawn?: SpawnEngine; log?: (line: string) => void; now?: () => number }): Promise<DownloadedModel> {
  const env = p.env ?? process.env;
  const log = p.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const now = p.now ?? Date.now;
  let done: DownloadedModel | null = null;
  let error: { message: string; exit_code?: number } | null = null;
  let lastLine = 0;
  const { exitCode, stderrTail } = await runEngineProcess<HubModelEvent>({
    argv: [p.python ?? projectPython({ env }), "-m", "qc_engine.hub_model", "--resolved", p.resolvedPath],
    what: "model download",
    parseLine: (line) => {
      if (!line.startsWith("{")) return null;
      try {
        return JSON.parse(line) as HubModelEvent;
      } catch {
        return null;
      }
    },
    onEvent: (ev) => {
      if (ev.event === "start") log(`[model] downloading ${ev.repo_id}@${ev.revision} (once, before the workers start)`);
      else if (ev.event === "progress" && ev.total > 0 && (ev.downloaded >= ev.total || now() - lastLine >= 2000)) {
        lastLine = now();
        log(`[model] ${ev.what}: ${formatBytes(ev.downloaded)} / ${formatBytes(ev.total)}`);
      } else if (ev.event === "done") done = ev;
      else if (ev.event === "error") error = ev;
    },
    env: engineEnv(env),
  });
  const finished = done as DownloadedModel | null;
  if (exitCode !== 0 || !finished) {
    const err = error as { message: string; exit_code?: number } | null;
    throw new UserError(err?.message ?? `the model download failed (exit ${exitCode}):\n${stderrTail.slice(-10).join("\n")}`, { exitCode: err?.exit_code ?? (exitCode === 2 ? 2 : 1) });
  }
  log(`[model] ${finished.repo_id}@${finished.revision} = commit ${finished.commit}: ${finished.path}`);
  return finished;
}

/** Points the resolved config at the snapshot and records where it came from (atomic rewrite). */
export function recordModelSource(resolvedPath: string, model: DownloadedModel, check: HubModelCheck | null): void {
  const doc = JSON.parse(readFileSync(resolvedPath, "utf8"));
  doc.config.model.pretrained_name = model.path;
  doc.model_source = {
    kind: "hub",
    repo_id: model.repo_id,
    revision: model.revision,
    commit: model.commit,
    path: model.path,
    endpoint: check?.endpoint ?? null,
    files: check?.files.length ?? null,
    bytes: check?.totalBytes ?? null,
  };
  writeFileAtomic(resolvedPath, JSON.stringify(doc, null, 2) + "\n");
}

/**
 * The launcher's one call (after resolved_config.json is written, before the disk preflight and
 * torchrun): nothing for a local folder; for a Hub id, check, download once, record. Returns the
 * snapshot folder to read the model size from, or null.
 */
export async function prepareModelSource(p: { config: ModelSourceConfig; resolvedPath: string; env?: Env; log?: (line: string) => void; spawn?: SpawnEngine; python?: string }): Promise<DownloadedModel | null> {
  const env = p.env ?? process.env;
  const check = await checkModelSource({ config: p.config, env });
  if (check.kind === "local") return null;
  (p.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(check.text);
  checkCacheSpace(check, env);
  const model = await downloadModel({ resolvedPath: p.resolvedPath, env, log: p.log, spawn: p.spawn, python: p.python });
  recordModelSource(p.resolvedPath, model, check);
  return model;
}

/** Where a Hub-id run's backbone came from, from its resolved_config.json (model card, reports). */
export function modelSourceOf(resolved: unknown): { repo_id: string; revision: string; commit: string } | null {
  const s = (resolved as { model_source?: unknown } | null | undefined)?.model_source as { kind?: string; repo_id?: string; revision?: string; commit?: string } | undefined;
  return s?.kind === "hub" && s.repo_id && s.commit ? { repo_id: s.repo_id, revision: s.revision ?? "main", commit: s.commit } : null;
}

