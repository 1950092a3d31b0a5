// A small Hugging Face Hub of our own, on 127.0.0.1, for the push tests. It answers exactly the
// calls @huggingface/hub 2.17 makes for a model repo (create, repo info, preupload, LFS batch with
// the "basic" transfer + PUT upload, NDJSON commit, branch creation, tree listing, paths-info),
// keeps files per branch in memory, counts what it receives, checks tokens and injects faults.
// It also serves downloads the way huggingface_hub's snapshot_download (2.4) and @huggingface/hub's
// modelInfo/listFiles read them (HF_ENDPOINT=url): GET /api/models/{repo}/revision/{rev} (sha,
// siblings), the tree of a branch or commit, HEAD/GET /{repo}/resolve/{rev}/{file} with X-Repo-Commit,
// ETag / X-Linked-Etag, X-Linked-Size, Content-Length, Range; X-Error-Code RepoNotFound /
// RevisionNotFound / GatedRepo on errors. Public repos read without a token; gated and private
// ones need a token (401 without, 403 with one not allowed to read).
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type HubRoute =
  | "create"
  | "repoInfo"
  | "preupload"
  | "lfsBatch"
  | "lfsUpload"
  | "commit"
  | "branch"
  | "tree"
  | "pathsInfo"
  | "revisionInfo"
  | "resolve"
  | "unknown";

export type StoredFile = { kind: "regular"; data: Uint8Array } | { kind: "lfs"; oid: string; size: number };

export interface BranchState {
  files: Map<string, StoredFile>;
  head: string;
  commits: { oid: string; title: string }[];
}

export interface RepoState {
  id: string;
  private: boolean;
  branches: Map<string, BranchState>;
  /** LFS objects by sha256 */
  lfs: Map<string, Uint8Array>;
  pullRequests: { num: number; branch: string; target: string; title: string }[];
  /** Reading needs a token allowed to read it (TokenGrant.read). */
  gated?: boolean;
}

export interface TokenGrant {
  /** false: read-only token (403 on every write). */
  write?: boolean;
  /** Namespaces it may write to; default: any. */
  namespaces?: string[];
  /** Gated/private repos it may read; default: all. */
  read?: string[];
}

export interface HubServerOptions {
  /** Valid tokens and what they may do. */
  tokens: Record<string, TokenGrant>;
  /** Files at least this large are LFS even without a binary sample (default 10 MiB, as the Hub). */
  lfsThreshold?: number;
}

export interface HubCounters {
  totalRequests: number;
  requests: Record<HubRoute, number>;
  /** Bytes read from LFS upload bodies (PUT), whether the upload then succeeded or not. */
  lfsBytesReceived: number;
  lfsObjectsStored: number;
  commits: number;
  injectedFailures: number;
  droppedConnections: number;
  unauthorized: number;
}

export interface HubServer {
  url: string;
  counters: HubCounters;
  /** Every request: method, path (no query), route, status. Headers are not kept. */
  log: { method: string; path: string; route: HubRoute; status: number }[];
  /** The next `count` requests to `route` answer `status` (default 500). */
  failNext(route: HubRoute, count: number, status?: number): void;
  /**
   * The next `count` requests to `route` have their connection dropped: before they are handled
   * (default), or after (`afterHandling`: the Hub did the work, the client never hears of it).
   */
  dropNext(route: HubRoute, count: number, opts?: { afterHandling?: boolean }): void;
  resetCounters(): void;
  /** Forget every pending injected failure and drop. */
  clearFaults(): void;
  repo(id: string): RepoState | undefined;
  branches(id: string): string[];
  /** Sorted paths of a branch (".gitattributes" included). */
  listFiles(id: string, branch: string): string[];
  readFile(id: string, branch: string, path: string): Uint8Array | null;
  isLfs(id: string, branch: string, path: string): boolean;
  /** Commits `files` as the whole content of `branch` (creating the repo and branch): returns the commit oid. */
  seedRepo(id: string, files: Record<string, Uint8Array | string>, opts?: { branch?: string; private?: boolean; gated?: boolean }): string;
  stop(): void;
}

const LFS_EXTENSIONS = /\.(safetensors|bin|pt|pth|ckpt|h5|msgpack|onnx|npy|npz|pkl|model|zip|gz|tar)$/i;

const GITATTRIBUTES = [
  "*.safetensors filter=lfs diff=lfs merge=lfs -text",
  "*.bin filter=lfs diff=lfs merge=lfs -text",
  "*.pt filter=lfs diff=lfs merge=lfs -text",
  "",
].join("\n");

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

function gitBlobOid(data: Uint8Array): string {
  return createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
}

function lfsPointer(oid: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`;
}

function emptyCounters(): HubCounters {
  return {
    totalRequests: 0,
    requests: { create: 0, repoInfo: 0, preupload: 0, lfsBatch: 0, lfsUpload: 0, commit: 0, branch: 0, tree: 0, pathsInfo: 0, revisionInfo: 0, resolve: 0, unknown: 0 },
    lfsBytesReceived: 0,
    lfsObjectsStored: 0,
    commits: 0,
    injectedFailures: 0,
    droppedConnections: 0,
    unauthorized: 0,
  };
}

interface Matched {
  route: HubRoute;
  repoId?: string;
  rev?: string;
  rest?: string;
  oid?: string;
}

function match(method: string, path: string): Matched {
  let m: RegExpExecArray | null;
  if (method === "POST" && path === "/api/repos/create") return { route: "create" };
  if ((m = /^\/api\/models\/([^/]+)\/([^/]+)\/preupload\/([^/]+)$/.exec(path)) && method === "POST")
    return { route: "preupload", repoId: `${m[1]}/${m[2]}`, rev: decodeURIComponent(m[3]) };
  if ((m = /^\/api\/models\/([^/]+)\/([^/]+)\/commit\/([^/]+)$/.exec(path)) && method === "POST")
    return { route: "commit", repoId: `${m[1]}/${m[2]}`, rev: decodeURIComponent(m[3]) };
  if ((m = /^\/api\/models\/([^/]+)\/([^/]+)\/branch\/([^/]+)$/.exec(path)) && method === "POST")
    return { route: "branch", repoId: `${m[1]}/${m[2]}`, rev: decodeURIComponent(m[3]) };
  if ((m = /^\/api\/models\/([^/]+)\/([^/]+)\/paths-info\/([^/]+)$/.exec(path)) && method === "POST")
    return { route: "pathsInfo", repoId: `${m[1]}/${m[2]}`, rev: decodeURIComponent(m[3]) };
  if ((m = /^\/api\/models\/([^/]+)\/([^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(path)) && method === "GET")
    return { route: "tree", repoId: `${m[1]}/${m[2]}`, rev: decodeURIComponent(m[3]), rest: m[4] ? decodeURIComponent(m[4]) : "" };
  if ((m = /^\/api\/models\/([^/]+)\/([^/]+)$/.exec(path)) && method === "GET") return { route: "repoInfo", repoId: `${m[1]}/${m[2]}` };
  if ((m = /^\/api\/models\/([^/]+)\/([^/]+)\/revision\/(.+)$/.exec(path)) && method === "GET")
    return { route: "revisionInfo", repoId: `${m[1]}/${m[2]}`, rev: decodeURIComponent(m[3]) };
  if ((m = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path)) && (method === "GET" || method === "HEAD"))
    return { route: "resolve", repoId: `${m[1]}/${m[2]}`, rev: decodeURIComponent(m[3]), rest: decodeURIComponent(m[4]) };
  if ((m = /^\/([^/]+)\/([^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(path)) && method === "POST")
    return { route: "lfsBatch", repoId: `${m[1]}/${m[2]}` };
  if ((m = /^\/lfs-upload\/([^/]+)\/([^/]+)\/([0-9a-f]{64})$/.exec(path)) && method === "PUT")
    return { route: "lfsUpload", repoId: `${m[1]}/${m[2]}`, oid: m[3] };
  return { route: "unknown" };
}

export function startHubServer(options: HubServerOptions): HubServer {
  const repos = new Map<string, RepoState>();
  const failures = new Map<HubRoute, { count: number; status: number }>();
  const drops = new Map<HubRoute, { count: number; afterHandling: boolean }>();
  const uploadSignatures = new Map<string, string>(); // "repo/oid" -> signature
  const lfsThreshold = options.lfsThreshold ?? 10 * 1024 * 1024;
  let counters = emptyCounters();
  const log: HubServer["log"] = [];
  let base = "";

  /** Files as they were at every commit (oids are random, unique across repos). */
  const commitFiles = new Map<string, Map<string, StoredFile>>();
  const newCommit = (branch: BranchState, title: string) => {
    const oid = hex(20);
    branch.head = oid;
    branch.commits.push({ oid, title });
    commitFiles.set(oid, new Map(branch.files));
    return oid;
  };

  /** A branch name (or refs/pr/N) or a commit oid -> the files and the commit. */
  function resolveRev(repo: RepoState, rev: string): { files: Map<string, StoredFile>; commit: string } | null {
    const branch = repo.branches.get(rev === "HEAD" ? "main" : rev);
    if (branch) return { files: branch.files, commit: branch.head };
    const files = commitFiles.get(rev);
    const known = [...repo.branches.values()].some((b) => b.commits.some((c) => c.oid === rev));
    return files && known ? { files, commit: rev } : null;
  }

  /** Reading: public repos without a token; gated/private ones with a token allowed to read them. */
  function authorizeRead(req: Request, repo: RepoState | undefined, repoId: string): Response | null {
    const header = req.headers.get("authorization") ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    const grant = token ? options.tokens[token] : undefined;
    if (token && !grant) {
      counters.unauthorized++;
      return json({ error: "Invalid credentials in Authorization header" }, 401, { "X-Error-Message": "Invalid credentials in Authorization header" });
    }
    if (!repo) return json({ error: "Repository not found" }, grant ? 404 : 401, { "X-Error-Code": "RepoNotFound" });
    if (!repo.private && !repo.gated) return null;
    if (grant && (!grant.read || grant.read.includes(repoId))) return null;
    counters.unauthorized++;
    if (repo.gated) {
      return json({ error: `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it.` }, grant ? 403 : 401, { "X-Error-Code": "GatedRepo" });
    }
    return json({ error: "Repository not found" }, grant ? 404 : 401, { "X-Error-Code": "RepoNotFound" });
  }

  function resolveFile(req: Request, repo: RepoState, rev: { files: Map<string, StoredFile>; commit: string }, path: string): Response {
    const f = rev.files.get(path);
    if (!f) return json({ error: `Entry not found: ${path}` }, 404, { "X-Error-Code": "EntryNotFound" });
    const data = f.kind === "regular" ? f.data : repo.lfs.get(f.oid)!;
    const headers: Record<string, string> = { "X-Repo-Commit": rev.commit, "Accept-Ranges": "bytes", "content-type": "application/octet-stream" };
    if (f.kind === "regular") headers.ETag = `"${gitBlobOid(f.data)}"`;
    else Object.assign(headers, { ETag: `"${f.oid}"`, "X-Linked-Etag": `"${f.oid}"`, "X-Linked-Size": String(f.size) });
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
    const start = range ? Math.min(Number(range[1]), data.length) : 0;
    const end = range && range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
    const body = data.subarray(start, end + 1);
    headers["Content-Length"] = String(req.method === "HEAD" ? data.length : body.length);
    if (range) headers["Content-Range"] = `bytes ${start}-${end}/${data.length}`;
    return new Response(req.method === "HEAD" ? null : (body as unknown as BodyInit), { status: range ? 206 : 200, headers });
  }

  function authorize(req: Request, write: boolean, namespace?: string): Response | null {
    const header = req.headers.get("authorization") ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    const grant = token ? options.tokens[token] : undefined;
    if (!grant) {
      counters.unauthorized++;
      return json({ error: "Invalid credentials in Authorization header" }, 401);
    }
    if (write && (grant.write === false || (namespace && grant.namespaces && !grant.namespaces.includes(namespace)))) {
      counters.unauthorized++;
      return json({ error: `You don't have the rights to write to ${namespace ?? "this namespace"}` }, 403);
    }
    return null;
  }

  function treeEntries(branch: BranchState, prefix: string, recursive: boolean) {
    const out: Record<string, unknown>[] = [];
    const dirs = new Set<string>();
    const pre = prefix ? prefix.replace(/\/$/, "") + "/" : "";
    for (const [path, f] of [...branch.files.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      if (pre && !path.startsWith(pre)) continue;
      const rel = path.slice(pre.length);
      const parts = rel.split("/");
      for (let i = 1; i < parts.length; i++) {
        const d = pre + parts.slice(0, i).join("/");
        if (!recursive && i > 1) break;
        if (!dirs.has(d)) {
          dirs.add(d);
          out.push({ type: "directory", oid: hex(20), size: 0, path: d });
        }
      }
      if (!recursive && parts.length > 1) continue;
      out.push(fileEntry(path, f));
    }
    return out;
  }

  function fileEntry(path: string, f: StoredFile) {
    if (f.kind === "regular") return { type: "file", oid: gitBlobOid(f.data), size: f.data.length, path };
    const pointer = new TextEncoder().encode(lfsPointer(f.oid, f.size));
    return { type: "file", oid: gitBlobOid(pointer), size: f.size, path, lfs: { oid: f.oid, size: f.size, pointerSize: pointer.length } };
  }

  async function handle(req: Request, m: Matched, url: URL): Promise<Response> {
    const repo = m.repoId ? repos.get(m.repoId) : undefined;
    const ns = m.repoId?.split("/")[0];
    switch (m.route) {
      case "create": {
        const body = (await req.json()) as { name: string; organization?: string; type?: string; visibility?: string };
        const namespace = body.organization ?? "me";
        const denied = authorize(req, true, namespace);
        if (denied) return denied;
        const id = `${namespace}/${body.name}`;
        if ((body.type ?? "model") !== "model") return json({ error: "only model repos here" }, 400);
        if (repos.has(id)) return json({ error: "You already created this model repo", url: `${base}/${id}` }, 409);
        const gitattributes = new TextEncoder().encode(GITATTRIBUTES);
        const main: BranchState = { files: new Map([[".gitattributes", { kind: "regular", data: gitattributes }]]), head: "", commits: [] };
        newCommit(main, "initial commit");
        repos.set(id, { id, private: body.visibility === "private", branches: new Map([["main", main]]), lfs: new Map(), pullRequests: [] });
        return json({ url: `${base}/${id}`, name: id, id: hex(12) });
      }
      case "repoInfo": {
        const denied = authorize(req, false);
        if (denied) return denied;
        if (!repo) return json({ error: "Repository not found" }, 404);
        return json({ id: repo.id, modelId: repo.id, private: repo.private, sha: repo.branches.get("main")?.head });
      }
      case "preupload": {
        const denied = authorize(req, true, ns);
        if (denied) return denied;
        if (!repo) return json({ error: "Repository not found" }, 404);
        const branch = repo.branches.get(m.rev!);
        if (!branch) return json({ error: `Revision Not Found: ${m.rev}` }, 404);
        const body = (await req.json()) as { files: { path: string; size: number; sample: string }[] };
        return json({
          files: body.files.map((f) => {
            const sample = Buffer.from(f.sample, "base64");
            const lfs = LFS_EXTENSIONS.test(f.path) || f.size >= lfsThreshold || sample.includes(0);
            return { path: f.path, uploadMode: lfs ? "lfs" : "regular", shouldIgnore: false };
          }),
          commitOid: branch.head,
        });
      }
      case "lfsBatch": {
        const denied = authorize(req, true, ns);
        if (denied) return denied;
        if (!repo) return json({ message: "Repository not found" }, 404);
        const body = (await req.json()) as { operation: string; transfers?: string[]; objects: { oid: string; size: number }[] };
        if (body.operation !== "upload") return json({ message: "only uploads here" }, 400);
        if (body.transfers && !body.transfers.includes("basic")) return json({ message: "basic transfer required" }, 400);
        return json(
          {
            transfer: "basic",
            objects: body.objects.map((o) => {
              if (repo.lfs.has(o.oid)) return { oid: o.oid, size: o.size, authenticated: true };
              const sig = hex(16);
              uploadSignatures.set(`${repo.id}/${o.oid}`, sig);
              return {
                oid: o.oid,
                size: o.size,
                authenticated: true,
                actions: { upload: { href: `${base}/lfs-upload/${repo.id}/${o.oid}?sig=${sig}`, expires_in: 3600 } },
              };
            }),
          },
          200,
          { "content-type": "application/vnd.git-lfs+json", "x-request-id": hex(8) },
        );
      }
      case "lfsUpload": {
        if (!repo) return new Response("no such repo", { status: 404 });
        const expected = uploadSignatures.get(`${repo.id}/${m.oid}`);
        if (!expected || url.searchParams.get("sig") !== expected) return new Response("bad signature", { status: 403 });
        const data = new Uint8Array(await req.arrayBuffer());
        counters.lfsBytesReceived += data.length;
        const sha = createHash("sha256").update(data).digest("hex");
        if (sha !== m.oid) return new Response(`content does not match oid ${m.oid} (got ${sha})`, { status: 400 });
        repo.lfs.set(sha, data);
        counters.lfsObjectsStored++;
        return new Response(null, { status: 200 });
      }
      case "branch": {
        const denied = authorize(req, true, ns);
        if (denied) return denied;
        if (!repo) return json({ error: "Repository not found" }, 404);
        const body = (await req.json().catch(() => ({}))) as { startingPoint?: string; emptyBranch?: boolean; overwrite?: boolean };
        const exists = repo.branches.has(m.rev!);
        if (exists && !body.overwrite) return json({ error: "Reference already exists" }, 409);
        if (exists && body.overwrite && !body.startingPoint && !body.emptyBranch) return json({});
        let files = new Map<string, StoredFile>();
        let head = "";
        if (!body.emptyBranch) {
          const from = repo.branches.get(body.startingPoint ?? "main");
          if (!from) return json({ error: `Invalid rev id: ${body.startingPoint}` }, 404);
          files = new Map(from.files);
          head = from.head;
        }
        repo.branches.set(m.rev!, { files, head, commits: [] });
        return json({});
      }
      case "commit": {
        const denied = authorize(req, true, ns);
        if (denied) return denied;
        if (!repo) return json({ error: "Repository not found" }, 404);
        const target = repo.branches.get(m.rev!);
        if (!target) return json({ error: `Revision Not Found: ${m.rev}` }, 404);
        const lines = (await req.text()).split("\n").filter((l) => l.trim());
        const ops = lines.map((l) => JSON.parse(l) as { key: string; value: any });
        if (ops[0]?.key !== "header") return json({ error: "first line must be the header" }, 400);
        const header = ops[0].value as { summary: string; parentCommit?: string };
        if (header.parentCommit && header.parentCommit !== target.head) return json({ error: "A commit has happened since" }, 412);
        const files = new Map(target.files);
        for (const op of ops.slice(1)) {
          if (op.key === "file") {
            const data = op.value.encoding === "base64" ? Buffer.from(op.value.content, "base64") : Buffer.from(op.value.content, "utf8");
            files.set(op.value.path, { kind: "regular", data: new Uint8Array(data) });
          } else if (op.key === "lfsFile") {
            const obj = repo.lfs.get(op.value.oid);
            if (!obj || obj.length !== op.value.size) {
              return json({ error: `Your push was rejected because an LFS pointer pointed to a file that does not exist (${op.value.path})` }, 422);
            }
            files.set(op.value.path, { kind: "lfs", oid: op.value.oid, size: op.value.size });
          } else if (op.key === "deletedFile") {
            if (!files.delete(op.value.path)) return json({ error: `File not found: ${op.value.path}` }, 404);
          } else {
            return json({ error: `unknown operation ${op.key}` }, 400);
          }
        }
        counters.commits++;
        if (url.searchParams.get("create_pr") === "1") {
          const num = repo.pullRequests.length + 1;
          const prBranch: BranchState = { files, head: target.head, commits: [] };
          const oid = newCommit(prBranch, header.summary);
          repo.branches.set(`refs/pr/${num}`, prBranch);
          repo.pullRequests.push({ num, branch: `refs/pr/${num}`, target: m.rev!, title: header.summary });
          return json({ success: true, commitOid: oid, commitUrl: `${base}/${repo.id}/commit/${oid}`, pullRequestUrl: `${base}/${repo.id}/discussions/${num}`, hookOutput: "" });
        }
        target.files = files;
        const oid = newCommit(target, header.summary);
        return json({ success: true, commitOid: oid, commitUrl: `${base}/${repo.id}/commit/${oid}`, hookOutput: "" });
      }
      case "tree": {
        const denied = authorizeRead(req, repo, m.repoId!);
        if (denied) return denied;
        const rev = resolveRev(repo!, m.rev!);
        if (!rev) return json({ error: `Revision Not Found: ${m.rev}` }, 404, { "X-Error-Code": "RevisionNotFound" });
        return json(treeEntries({ files: rev.files, head: rev.commit, commits: [] }, m.rest ?? "", url.searchParams.get("recursive") === "true"));
      }
      case "revisionInfo": {
        const denied = authorizeRead(req, repo, m.repoId!);
        if (denied) return denied;
        const rev = resolveRev(repo!, m.rev!);
        if (!rev) return json({ error: `Revision Not Found: ${m.rev}` }, 404, { "X-Error-Code": "RevisionNotFound" });
        const siblings = [...rev.files.keys()].sort().map((rfilename) => ({ rfilename }));
        return json({ _id: hex(12), id: repo!.id, modelId: repo!.id, private: repo!.private, gated: repo!.gated ? "auto" : false, sha: rev.commit, siblings, downloads: 0, likes: 0, tags: [] });
      }
      case "resolve": {
        const denied = authorizeRead(req, repo, m.repoId!);
        if (denied) return denied;
        const rev = resolveRev(repo!, m.rev!);
        if (!rev) return json({ error: `Revision Not Found: ${m.rev}` }, 404, { "X-Error-Code": "RevisionNotFound" });
        return resolveFile(req, repo!, rev, m.rest!);
      }
      case "pathsInfo": {
        const denied = authorize(req, false);
        if (denied) return denied;
        if (!repo) return json({ error: "Repository not found" }, 404);
        const branch = repo.branches.get(m.rev!);
        if (!branch) return json({ error: `Revision Not Found: ${m.rev}` }, 404);
        const body = (await req.json()) as { paths: string[] };
        return json(body.paths.flatMap((p) => (branch.files.has(p) ? [fileEntry(p, branch.files.get(p)!)] : [])));
      }
      default:
        return json({ error: `unknown route ${req.method} ${url.pathname}` }, 404);
    }
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const m = match(req.method, url.pathname);
      counters.totalRequests++;
      counters.requests[m.route]++;
      const record = (status: number) => log.push({ method: req.method, path: url.pathname, route: m.route, status });
      const fail = failures.get(m.route);
      if (fail && fail.count > 0) {
        fail.count--;
        counters.injectedFailures++;
        await req.arrayBuffer().catch(() => {});
        record(fail.status);
        return json({ error: "injected failure" }, fail.status);
      }
      const drop = drops.get(m.route);
      const dropConnection = () => {
        drop!.count--;
        counters.droppedConnections++;
        // An erroring body stream makes Bun reset the connection: the client sees ECONNRESET.
        return new Response(new ReadableStream({ pull: (c) => c.error(undefined) }), { headers: { "content-type": "application/json" } });
      };
      if (drop && drop.count > 0 && !drop.afterHandling) {
        const body = await req.arrayBuffer().catch(() => new ArrayBuffer(0));
        if (m.route === "lfsUpload") counters.lfsBytesReceived += body.byteLength;
        record(0);
        return dropConnection();
      }
      const res = await handle(req, m, url);
      record(res.status);
      if (drop && drop.count > 0 && drop.afterHandling) return dropConnection();
      return res;
    },
  });
  base = `http://127.0.0.1:${server.port}`;

  return {
    url: base,
    get counters() {
      return counters;
    },
    log,
    failNext(route, count, status = 500) {
      failures.set(route, { count, status });
    },
    dropNext(route, count, opts = {}) {
      drops.set(route, { count, afterHandling: opts.afterHandling ?? false });
    },
    resetCounters() {
      counters = emptyCounters();
      log.length = 0;
    },
    clearFaults() {
      failures.clear();
      drops.clear();
    },
    repo: (id) => repos.get(id),
    branches: (id) => [...(repos.get(id)?.branches.keys() ?? [])].sort(),
    listFiles: (id, branch) => [...(repos.get(id)?.branches.get(branch)?.files.keys() ?? [])].sort(),
    readFile(id, branch, path) {
      const r = repos.get(id);
      const f = r?.branches.get(branch)?.files.get(path);
      if (!r || !f) return null;
      return f.kind === "regular" ? f.data : (r.lfs.get(f.oid) ?? null);
    },
    isLfs: (id, branch, path) => repos.get(id)?.branches.get(branch)?.files.get(path)?.kind === "lfs",
    seedRepo(id, files, opts = {}) {
      let repo = repos.get(id);
      if (!repo) {
        repo = { id, private: opts.private ?? false, gated: opts.gated ?? false, branches: new Map(), lfs: new Map(), pullRequests: [] };
        repos.set(id, repo);
      }
      const name = opts.branch ?? "main";
      const branch: BranchState = repo.branches.get(name) ?? { files: new Map(), head: "", commits: [] };
      branch.files = new Map();
      for (const [path, content] of Object.entries(files)) {
        const data = typeof content === "string" ? new TextEncoder().encode(content) : content;
        if (LFS_EXTENSIONS.test(path) || data.length >= lfsThreshold) {
          const oid = createHash("sha256").update(data).digest("hex");
          repo.lfs.set(oid, data);
          branch.files.set(path, { kind: "lfs", oid, size: data.length });
        } else branch.files.set(path, { kind: "regular", data });
      }
      repo.branches.set(name, branch);
      return newCommit(branch, `seed ${name}`);
    },
    stop: () => server.stop(true),
  };
}

// ---------------------------------------------------------------------------------------------
// Fabricated runs: checkpoint folders with hf_model/, training_info.json, eval_results.json
// ---------------------------------------------------------------------------------------------

export interface FabricatedCheckpoint {
  step: number;
  /** eval_results.json entries as [split, metrics]; none: not evaluated */
  evals?: [string, Record<string, number>][];
  isFinal?: boolean;
  isBest?: boolean;
  /** bytes of model.safetensors (default 4096) */
  weightBytes?: number;
  /** seed of the weight bytes (same seed, same bytes) */
  seed?: number;
  complete?: boolean;
  hfModel?: boolean;
}

function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A safetensors-like file: 8-byte little-endian header length, JSON header, then weight bytes. */
export function fakeSafetensors(bytes: number, seed: number): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ "score.weight": { dtype: "F32", shape: [2, 4], data_offsets: [0, bytes] } }));
  const out = new Uint8Array(8 + header.length + bytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(pseudoRandomBytes(bytes, seed), 8 + header.length);
  return out;
}

export function writeFabricatedCheckpoint(outputDir: string, c: FabricatedCheckpoint): string {
  const dir = join(outputDir, `checkpoint-${c.step}`);
  const hf = join(dir, "hf_model");
  mkdirSync(hf, { recursive: true });
  if (c.hfModel !== false) {
    writeFileSync(
      join(hf, "config.json"),
      JSON.stringify({ model_type: "qwen2_5_vl", num_labels: 3, id2label: { 0: "apple", 1: "banana", 2: "cherry" }, auto_map: { AutoModelForImageClassification: "modeling_qwen_classifier.Qwen2_5_VLForImageClassification" } }, null, 2),
    );
    writeFileSync(join(hf, "model.safetensors"), fakeSafetensors(c.weightBytes ?? 4096, c.seed ?? c.step));
    writeFileSync(join(hf, "preprocessor_config.json"), JSON.stringify({ min_pixels: 3136, max_pixels: 200704 }));
    writeFileSync(join(hf, "modeling_qwen_classifier.py"), "# modelling code\nclass Qwen2_5_VLForImageClassification: pass\n");
  }
  if (c.evals?.length) {
    const results: Record<string, unknown> = {};
    c.evals.forEach(([split, metrics], i) => {
      results[`sha${i}${split}`] = { split, data: "/data/val.jsonl", data_sha256: `sha${i}`, num_samples: 30, step: c.step, metrics, evaluated_at: new Date(1_700_000_000_000 + i * 1000).toISOString() };
    });
    writeFileSync(join(dir, "eval_results.json"), JSON.stringify(results, null, 2));
  }
  if (c.complete !== false) {
    writeFileSync(
      join(dir, "training_info.json"),
      JSON.stringify(
        {
          step: c.step, epoch: c.step / 10, samples_seen: c.step * 8, train_loss: 1 / c.step, lr: 1e-5, grad_norm: 1,
          eval_metrics: c.evals?.[0]?.[1] ?? null, metric_name: "accuracy", is_final: c.isFinal ?? false, is_best: c.isBest ?? false,
          wall_time_s: c.step, world_size: 2, zero_stage: 2, precision: "bf16", config_hash: "cafe", num_labels: 3,
          id2label: { 0: "apple", 1: "banana", 2: "cherry" }, versions: { torch: "2.13.0" }, created_at: new Date(0).toISOString(),
          has_deepspeed_state: false, has_hf_model: c.hfModel !== false, slim: true, bytes: { deepspeed: 0, hf_model: 4096, total: 4096 },
        },
        null,
        2,
      ),
    );
  }
  return dir;
}

/** A run folder with resolved_config.json and the given checkpoints. */
export function fabricateRun(checkpoints: FabricatedCheckpoint[], opts: { skipEvaluation?: boolean; hub?: Record<string, unknown> } = {}): string {
  const out = mkdtempSync(join(tmpdir(), "qc-hub-run-"));
  const skip = opts.skipEvaluation ?? false;
  writeFileSync(
    join(out, "resolved_config.json"),
    JSON.stringify(
      {
        config: {
          model: { pretrained_name: "/models/Qwen2.5-VL-7B-Instruct", num_labels: 3, pooling: "last_token", freeze_vision_tower: false },
          loss: { type: "cross_entropy", smoothing: 0.1 },
          datasets: { dataset_configs: { fruits: { num_classes: 3, description: "three fruits" } } },
          data: { dataset: "fruits", prompt: "Which fruit is this?", image_min_pixels: 3136, image_max_pixels: 200704 },
          training: {
            output_dir: out, epochs: 3, max_steps: 0, per_device_batch_size: 4, gradient_accumulation_steps: 2, lr: 2e-5,
            lr_scheduler: "cosine", warmup_steps: 10, weight_decay: 0, max_grad_norm: 1, precision: "bf16", seed: 42,
            skip_evaluation: skip, save_all_checkpoints: skip, gradient_checkpointing: true,
            best_model_tracking: { enabled: !skip, metric: "accuracy", greater_is_better: true },
          },
          hub: { push: "none", repo_id: "", private: true, endpoint: "https://huggingface.co", ...opts.hub },
        },
        overrides: skip
          ? [
              { path: "training.save_all_checkpoints", requested: false, value: true, source: "default", reason: "training.skip_evaluation=true keeps every checkpoint", kind: "forced" },
              { path: "training.eval_steps", requested: 50, value: 50, source: "file", reason: "training.skip_evaluation=true: no evaluation runs during training", kind: "ignored" },
            ]
          : [],
        config_hash: "cafe",
      },
      null,
      2,
    ),
  );
  for (const c of checkpoints) writeFabricatedCheckpoint(out, c);
  return out;
}
