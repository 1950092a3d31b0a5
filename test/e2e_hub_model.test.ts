// model.pretrained_name as a Hub id, end to end against the local Hub (test/hub_server.ts, HF_ENDPOINT):
// refusals before anything is written (missing repo, gated without a token, wrong revision), one
// short training run from a pinned revision (downloaded once, recorded in resolved_config.json and
// hf_model/config.json), then offline (HF_HUB_OFFLINE=1) from the cache without a request.
// The server lives in this process: children are spawned asynchronously (spawnSync would block it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startHubServer, type HubServer } from "./hub_server.ts";

const ROOT = resolve(import.meta.dir, "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");
let hub: HubServer;
let work: string;
let c1: string;
let c2: string;

function run(argv: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", DS_ACCELERATOR: "cpu", OMP_NUM_THREADS: "1", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((r) => child.once("close", (code) => r({ code, stdout, stderr })));
}

const train = (sets: Record<string, string | number | boolean>, env: Record<string, string>, extra: string[] = []) =>
  run([process.execPath, "run", "tasks/train.ts", ...Object.entries(sets).flatMap(([k, v]) => ["--set", `${k}=${v}`]), ...extra], env);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "qc-hub-model-"));
  const model = join(work, "tiny");
  const built = await run([PYTHON, "-c", `from qc_engine.tiny import build_tiny_model; build_tiny_model(${JSON.stringify(model)}, seed=0)`], { PYTHONPATH: join(ROOT, "engine") });
  if (built.code !== 0) throw new Error(built.stderr.slice(-2000));
  const files: Record<string, Uint8Array> = {};
  for (const n of readdirSync(model)) if (statSync(join(model, n)).isFile()) files[n] = readFileSync(join(model, n));
  hub = startHubServer({ tokens: { hf_reader: {} } });
  c1 = hub.seedRepo("me/tiny", files);
  c2 = hub.seedRepo("me/tiny", { ...files, "extra.txt": "a later commit" });
  hub.seedRepo("me/gated", files, { gated: true });
}, 120_000);
afterAll(() => {
  hub?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("model.pretrained_name = a Hub id", () => {
  test("missing repo, gated without a token, wrong revision: exit 2 before anything is written", async () => {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(work, "cache-refused"), HF_TOKEN: "" };
    const cases: [Record<string, string>, string][] = [
      [{ "model.pretrained_name": "me/nope" }, "model.pretrained_name me/nope: "],
      [{ "model.pretrained_name": "me/gated" }, "model.pretrained_name me/gated: the repository is gated and no token is set"],
      [{ "model.pretrained_name": "me/tiny", "model.revision": "v9" }, "model.revision v9: me/tiny has no such branch, tag or commit"],
    ];
    for (const [sets, message] of cases) {
      const out = join(work, "refused");
      for (const extra of [["--dry-run"], []]) {
        const r = await train({ ...sets, "demo.build_tiny_model": false, "training.output_dir": out }, env, extra);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`error: ${message}`);
        expect(existsSync(out)).toBe(false);
      }
    }
    expect(existsSync(env.HF_HUB_CACHE)).toBe(false);
  }, 120_000);

  // Slow (a torchrun training run): skipped with QC_TEST_FAST=1, like test/e2e_train.test.ts; the predict test needs its checkpoint.
  test.skipIf(process.env.QC_TEST_FAST === "1")("a pinned revision trains: downloaded once, commit recorded; offline again from the cache", async () => {
    const cache = join(work, "cache");
    const out = join(work, "out");
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache };
    hub.resetCounters();
    const r = await train({
      "model.pretrained_name": "me/tiny", "model.revision": c1, "demo.build_tiny_model": false, "training.output_dir": out,
      "training.skip_evaluation": true, "training.max_steps": 2, "training.save_steps": 2, "training.per_device_batch_size": 8, "data.num_workers": 0,
    }, env, ["--nproc-per-node", "2"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`[model] downloading me/tiny@${c1}`);
    // one download for two ranks: the weights fetched whole once (206: the size checks' header ranges)
    const gets = hub.log.filter((l) => l.route === "resolve" && l.method === "GET" && l.path.endsWith("/model.safetensors") && l.status === 200);
    expect(gets.length).toBe(1);
    const snapshot = join(cache, "models--me--tiny", "snapshots", c1);
    const resolved = JSON.parse(readFileSync(join(out, "resolved_config.json"), "utf8"));
    expect(resolved.config.model.pretrained_name).toBe(snapshot);
    expect(resolved.model_source).toMatchObject({ kind: "hub", repo_id: "me/tiny", revision: c1, commit: c1, path: snapshot });
    expect(existsSync(join(snapshot, "extra.txt"))).toBe(false); // c1, not main (c2)
    const hfConfig = JSON.parse(readFileSync(join(out, "checkpoint-2", "hf_model", "config.json"), "utf8"));
    expect(hfConfig.qc_base_model).toEqual({ repo_id: "me/tiny", commit: c1 });

    hub.resetCounters();
    const offline = { ...env, HF_HUB_OFFLINE: "1" };
    const dry = await train({ "model.pretrained_name": "me/tiny", "model.revision": c1, "demo.build_tiny_model": false, "training.output_dir": join(work, "out2") }, offline, ["--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain(`model: me/tiny@${c1} from the cache (HF_HUB_OFFLINE): ${snapshot}`);
    const dl = await run([PYTHON, "-m", "qc_engine.hub_model", "--repo", "me/tiny", "--revision", c1], { ...offline, PYTHONPATH: join(ROOT, "engine") });
    expect(dl.code).toBe(0);
    expect(JSON.parse(dl.stdout.trim().split("\n").pop()!)).toMatchObject({ event: "done", commit: c1, path: snapshot });
    expect(hub.counters.totalRequests).toBe(0);
    expect(c2).not.toBe(c1);
  }, 420_000);

  test.skipIf(process.env.QC_TEST_FAST === "1")("tasks/predict.ts --checkpoint <Hub id>: the pushed hf_model/ files, preprocessing from its eval_results.json", async () => {
    const hf = join(work, "out", "checkpoint-2", "hf_model");
    const files: Record<string, Uint8Array | string> = {};
    for (const n of readdirSync(hf)) files[n] = readFileSync(join(hf, n));
    const data = resolved0().config.data;
    const preprocessing = { prompt: data.prompt, image_min_pixels: data.image_min_pixels, image_max_pixels: data.image_max_pixels };
    files["eval_results.json"] = JSON.stringify({ "full:0": { split: "full", preprocessing } });
    const commit = hub.seedRepo("me/clf", files, { private: true });
    const images = readFileSync(data.val_jsonl, "utf8").trim().split("\n").slice(0, 6).map((l) => resolve(data.val_jsonl, "..", JSON.parse(l).image));
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(work, "cache"), HF_TOKEN: "hf_reader" };
    const fromHub = await run([process.execPath, "run", "tasks/predict.ts", "--checkpoint", "me/clf", "--images", ...images, "--out", join(work, "hub.jsonl"), "--json"], env);
    expect(fromHub.code).toBe(0);
    const summary = JSON.parse(fromHub.stdout);
    expect(summary).toMatchObject({ source: "hub", commit, num_images: 6 });
    expect(summary.preprocessing.from).toEndWith("eval_results.json");
    const local = await run([process.execPath, "run", "tasks/predict.ts", "--checkpoint", join(work, "out", "checkpoint-2"), "--images", ...images, "--out", join(work, "local.jsonl")], env);
    expect(local.code).toBe(0);
    const preds = (f: string) => readFileSync(join(work, f), "utf8").trim().split("\n").map((l) => JSON.parse(l).prediction);
    expect(preds("hub.jsonl")).toEqual(preds("local.jsonl"));
    const denied = await run([process.execPath, "run", "tasks/predict.ts", "--checkpoint", "me/clf", "--images", images[0], "--out", join(work, "no.jsonl")], { ...env, HF_TOKEN: "", HF_HUB_CACHE: join(work, "cache-empty") });
    expect(denied.code).toBe(2);
    expect(denied.stderr).toContain("--checkpoint me/clf: no such model repository on the Hub (or no access: set HF_TOKEN)");
    expect(existsSync(join(work, "no.jsonl"))).toBe(false);
  }, 300_000);
});

function resolved0(): any {
  return JSON.parse(readFileSync(join(work, "out", "resolved_config.json"), "utf8"));
}
