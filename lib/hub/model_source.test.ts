// lib/hub/model_source: a Hub model id checked against the local test Hub (test/hub_server.ts):
// sizes and commit, a pinned revision, and each refusal (missing repo, gated, wrong revision) as
// a UserError with exit 2; offline: the cache or a clear refusal; recording into resolved_config.json.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHubServer, type HubServer } from "../../test/hub_server.ts";
import { UserError } from "../util/errors.ts";
import { checkModelSource, hubModelId, modelSizeFromHub, modelSourceOf, recordModelSource, type HubModelCheck } from "./model_source.ts";

let hub: HubServer;
let c1: string;
let c2: string;
/** A safetensors file: 8-byte length, JSON header, then the (zero) tensor bytes. */
function safetensors(tensors: Record<string, number[]>): Uint8Array {
  let offset = 0;
  const header: Record<string, unknown> = {};
  for (const [name, shape] of Object.entries(tensors)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: "BF16", shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const head = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  return out;
}
const weights = safetensors({ "model.embed_tokens.weight": [100, 8], "visual.blocks.0.weight": [8, 8], "lm_head.weight": [100, 8] });
const cfg = (name: string, revision = "main") => ({ model: { pretrained_name: name, revision }, demo: { build_tiny_model: false } });

beforeAll(() => {
  hub = startHubServer({ tokens: { hf_reader: {}, hf_other: { read: ["someone/else"] } } });
  c1 = hub.seedRepo("me/tiny", { "config.json": "{}", "model.safetensors": weights });
  c2 = hub.seedRepo("me/tiny", { "config.json": "{}", "model.safetensors": weights, "extra.txt": "v2" });
  hub.seedRepo("me/gated", { "config.json": "{}" }, { gated: true });
  hub.seedRepo("me/nomodel", { "README.md": "# data" });
});
afterAll(() => hub.stop());

async function refusal(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    return err as UserError;
  }
  throw new Error("expected a refusal");
}

describe("checkModelSource", () => {
  test("a local folder or the demo's tiny model is not a Hub id", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-ms-"));
    expect(hubModelId(cfg(dir))).toBeNull();
    expect(hubModelId({ ...cfg("me/tiny"), demo: { build_tiny_model: true } })).toBeNull();
    expect(hubModelId(cfg("./me/tiny"))).toBeNull();
    expect(hubModelId(cfg("me/tiny"))).toBe("me/tiny");
    expect((await checkModelSource({ config: cfg(dir), env: {} })).kind).toBe("local");
  });

  test("main: the commit it points at, every file and the download size; a pinned commit is honoured", async () => {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: mkdtempSync(join(tmpdir(), "qc-ms-cache-")) };
    const main = (await checkModelSource({ config: cfg("me/tiny"), env })) as HubModelCheck;
    expect(main.commit).toBe(c2);
    expect(main.files.map((f) => f.path).sort()).toEqual(["config.json", "extra.txt", "model.safetensors"]);
    expect(main.weightBytes).toBe(weights.length);
    // parameters from the headers (Range requests), nothing downloaded: lm_head left out, a 3-way head added
    const size = modelSizeFromHub(main, 3);
    expect(size).toMatchObject({ params: 800 + 64 + 8 * 3 + 3, visionParams: 64, hiddenSize: 8, source: "safetensors" });
    expect(main.text).toContain("; 1,664 parameters in its safetensors headers");
    expect(main.totalBytes).toBe(main.files.reduce((a, f) => a + f.size, 0));
    expect(main.text).toContain(`me/tiny@main (commit ${c2.slice(0, 12)})`);
    const pinned = (await checkModelSource({ config: cfg("me/tiny", c1), env })) as HubModelCheck;
    expect(pinned.commit).toBe(c1);
    expect(pinned.files.some((f) => f.path === "extra.txt")).toBe(false);
  });

  test("missing repo, gated without a token, a token that cannot read it, wrong revision, not a model: exit 2 each", async () => {
    const env = { HF_ENDPOINT: hub.url };
    let e = await refusal(checkModelSource({ config: cfg("me/nope"), env }));
    expect(e.message).toMatch(/me\/nope: (no such model repository|the Hub refuses access)/);
    e = await refusal(checkModelSource({ config: cfg("me/nope"), env: { ...env, HF_TOKEN: "hf_reader" } }));
    expect(e.message).toContain(`model.pretrained_name me/nope: no such model repository on ${hub.url}`);
    e = await refusal(checkModelSource({ config: cfg("me/gated"), env }));
    expect(e.message).toContain("me/gated: the repository is gated and no token is set (HTTP 401");
    expect(e.hint).toContain("HF_TOKEN");
    e = await refusal(checkModelSource({ config: cfg("me/gated"), env: { ...env, HF_TOKEN: "hf_other" } }));
    expect(e.message).toContain("the repository is gated and the token (HF_TOKEN) cannot read it (HTTP 403");
    expect(((await checkModelSource({ config: cfg("me/gated"), env: { ...env, HF_TOKEN: "hf_reader" } })) as HubModelCheck).commit).toMatch(/^[0-9a-f]{40}$/);
    e = await refusal(checkModelSource({ config: cfg("me/tiny", "v9"), env }));
    expect(e.message).toContain("model.revision v9: me/tiny has no such branch, tag or commit");
    e = await refusal(checkModelSource({ config: cfg("me/nomodel"), env }));
    expect(e.message).toContain("has no config.json");
  });

  test("HF_HUB_OFFLINE: the cached snapshot of the revision, no request; not cached: a clear refusal", async () => {
    const cache = mkdtempSync(join(tmpdir(), "qc-ms-cache-"));
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" };
    const before = hub.counters.totalRequests;
    const e = await refusal(checkModelSource({ config: cfg("me/tiny"), env }));
    expect(e.message).toContain("HF_HUB_OFFLINE is set and it is not in the cache");
    const repo = join(cache, "models--me--tiny");
    mkdirSync(join(repo, "refs"), { recursive: true });
    mkdirSync(join(repo, "snapshots", c2), { recursive: true });
    writeFileSync(join(repo, "refs", "main"), c2);
    writeFileSync(join(repo, "snapshots", c2, "config.json"), "{}");
    const ok = (await checkModelSource({ config: cfg("me/tiny"), env })) as HubModelCheck;
    expect(ok.offline).toBe(true);
    expect(ok.commit).toBe(c2);
    expect(hub.counters.totalRequests).toBe(before);
  });
});

test("recordModelSource: the resolved config points at the snapshot and keeps id, revision, commit", () => {
  const dir = mkdtempSync(join(tmpdir(), "qc-ms-rec-"));
  const path = join(dir, "resolved_config.json");
  writeFileSync(path, JSON.stringify({ config: { model: { pretrained_name: "me/tiny", revision: "main" } }, config_hash: "abc" }));
  recordModelSource(path, { repo_id: "me/tiny", revision: "main", commit: c2, path: "/cache/snap" }, null);
  const doc = JSON.parse(readFileSync(path, "utf8"));
  expect(doc.config.model.pretrained_name).toBe("/cache/snap");
  expect(doc.config_hash).toBe("abc");
  expect(modelSourceOf(doc)).toEqual({ repo_id: "me/tiny", revision: "main", commit: c2 });
});

test("the disk preflight of tasks/prepare.ts counts a Hub model that is not downloaded yet", async () => {
  const { prepare } = await import("../data/prepare.ts");
  const { resolveConfig } = await import("../config/resolve.ts");
  const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_HUB_CACHE: process.env.HF_HUB_CACHE };
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = mkdtempSync(join(tmpdir(), "qc-ms-cache-"));
  try {
    const dir = mkdtempSync(join(tmpdir(), "qc-ms-prep-"));
    const resolved = resolveConfig({ configPath: null, sets: ["model.pretrained_name=me/tiny", "demo.build_tiny_model=false", "demo.build_digits_dataset=false", `training.output_dir=${join(dir, "out")}`, `data.train_jsonl=${join(dir, "none.jsonl")}`] });
    const r = await prepare({ mode: { kind: "check", config: resolved.config, configHash: resolved.configHash }, plot: async () => null });
    expect(r.output).toContain(`note: model: me/tiny@main (commit ${c2.slice(0, 12)})`);
    expect(r.output).toContain("1,664 parameters in its safetensors headers");
    expect(r.output).not.toContain("disk not checked");
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
});
