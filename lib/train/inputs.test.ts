import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configForTest } from "../data/fixtures.ts";
import { UserError } from "../util/errors.ts";
import { projectPython } from "../util/python.ts";
import { checkAttention, checkModelSource, checkRunInputs, findInputProblems, probeAttention } from "./inputs.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "qc-inputs-"));
  dirs.push(d);
  return d;
}

function config(root: string, patch: Record<string, unknown> = {}) {
  return configForTest({
    model: { pretrained_name: join(root, "model") },
    data: { train_jsonl: join(root, "train.jsonl"), val_jsonl: join(root, "val.jsonl"), labels_file: join(root, "labels.json") },
    training: { output_dir: join(root, "out") },
    demo: { build_tiny_model: false, build_digits_dataset: false },
    ...patch,
  });
}

test("model source: a folder with config.json; no config.json, a file, a Hub id, a missing folder each say so", () => {
  const root = tmp();
  mkdirSync(join(root, "m"));
  expect(checkModelSource({ name: join(root, "m"), generated: false })?.message).toBe(`model folder ${join(root, "m")} has no config.json`);
  writeFileSync(join(root, "m", "config.json"), "{}");
  expect(checkModelSource({ name: join(root, "m"), generated: false })).toBeNull();
  expect(checkModelSource({ name: join(root, "m", "config.json"), generated: false })?.message).toContain("is a file, not a model folder");
  // a Hub id is lib/hub/model_source.ts's to check (repo, revision, token), before this stage
  expect(checkModelSource({ name: "Qwen/Qwen2.5-VL-7B-Instruct", generated: false })).toBeNull();
  expect(checkModelSource({ name: join(root, "nope"), generated: false })?.message).toBe(`model folder ${join(root, "nope")} does not exist`);
  // the demo builds it before launch
  expect(checkModelSource({ name: join(root, "nope"), generated: true })).toBeNull();
});

test("every missing input is reported once, in one UserError (exit 2) that names key, line and fix", () => {
  const root = tmp();
  const yaml = join(root, "run.yaml");
  writeFileSync(yaml, `model:\n  pretrained_name: model\ndata:\n  train_jsonl: train.jsonl\n  val_jsonl: val.jsonl\n  labels_file: labels.json\n`);
  let caught: unknown;
  try {
    checkRunInputs({ config: config(root), outputDir: join(root, "out"), configHash: "h", sourceFile: yaml });
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(UserError);
  const err = caught as UserError;
  expect(err.exitCode).toBe(2);
  expect(err.message).toStartWith("the run's inputs have 4 problems; nothing was written and nothing was started:");
  expect(err.message).toContain(`1. ${yaml}:2: model.pretrained_name: model folder ${join(root, "model")} does not exist`);
  expect(err.message).toContain(`2. ${yaml}:4: data.train_jsonl: ${join(root, "train.jsonl")} does not exist`);
  expect(err.message).toContain(`3. ${yaml}:5: data.val_jsonl:`);
  expect(err.message).toContain(`4. ${yaml}:6: data.labels_file:`);
  expect(err.message.match(/fix: /g)?.length).toBe(4);
  expect(err.message.split(join(root, "train.jsonl")).length).toBe(2); // named once
});

test("the demo's generated inputs are not refused; an empty labels_file is not checked", () => {
  const root = tmp();
  const c = config(root, { demo: { build_tiny_model: true, build_digits_dataset: true } });
  expect(findInputProblems({ config: c, outputDir: join(root, "out"), configHash: "h" }).problems).toEqual([]);
  const c2 = config(root);
  c2.data.labels_file = "";
  expect(findInputProblems({ config: c2, outputDir: join(root, "out"), configHash: "h" }).problems.map((p) => p.key)).toEqual(["model.pretrained_name", "data.train_jsonl", "data.val_jsonl"]);
});

test("output_dir: a file in its place, an unwritable parent, another config's checkpoints", () => {
  const root = tmp();
  mkdirSync(join(root, "model"));
  writeFileSync(join(root, "model", "config.json"), "{}");
  for (const f of ["train.jsonl", "val.jsonl", "labels.json"]) writeFileSync(join(root, f), "");
  const c = config(root);
  writeFileSync(join(root, "afile"), "");
  const asFile = findInputProblems({ config: c, outputDir: join(root, "afile"), configHash: "h" });
  expect(asFile.problems.map((p) => p.message)).toEqual([`${join(root, "afile")} exists and is not a folder`]);

  const other = join(root, "other");
  mkdirSync(join(other, "checkpoint-3"), { recursive: true });
  writeFileSync(join(other, "checkpoint-3", "training_info.json"), JSON.stringify({ config_hash: "another" }));
  const foreign = findInputProblems({ config: c, outputDir: other, configHash: "h" });
  expect(foreign.problems).toHaveLength(1);
  expect(foreign.problems[0]!.message).toContain("holds checkpoints of a different config");
  expect(foreign.problems[0]!.fix).toContain("--overwrite");
  expect(findInputProblems({ config: c, outputDir: other, configHash: "h", resume: true }).previous?.state).toBe("different");
  // another node than node 0 leaves output_dir's contents to node 0 (which may be writing there right now); a file in its place is still refused
  expect(findInputProblems({ config: c, outputDir: other, configHash: "h", owner: false })).toEqual({ problems: [], previous: { state: "new", checkpoints: [], hashes: [] } });
  expect(findInputProblems({ config: c, outputDir: join(root, "afile"), configHash: "h", owner: false }).problems).toHaveLength(1);

  if (process.getuid?.() !== 0) {
    const locked = join(root, "locked");
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    const r = findInputProblems({ config: c, outputDir: join(locked, "run"), configHash: "h" });
    chmodSync(locked, 0o755);
    expect(r.problems.map((p) => p.message)).toEqual([`${locked} is not writable, so ${join(locked, "run")} cannot be written`]);
  }
  expect(checkRunInputs({ config: c, outputDir: join(root, "fresh"), configHash: "h", sourceFile: null }).state).toBe("new");
});

test("model.attn_implementation flash_attention_2 without the package or a GPU: refused before launch (exit 2)", () => {
  const d = tmp();
  let probes = 0;
  const probe = (found: { flashAttn: boolean; cudaCapable: boolean }) => () => (probes++, found);
  expect(checkAttention({ requested: "auto", probe: probe({ flashAttn: false, cudaCapable: false }) })).toBeNull();
  expect(checkAttention({ requested: "sdpa", probe: probe({ flashAttn: false, cudaCapable: false }) })).toBeNull();
  expect(probes).toBe(0); // probed only when flash_attention_2 is asked for
  expect(checkAttention({ requested: "flash_attention_2", probe: probe({ flashAttn: true, cudaCapable: true }) })).toBeNull();
  expect(checkAttention({ requested: "flash_attention_2", probe: () => null })).toBeNull(); // no answer: the engine checks
  const noPkg = checkAttention({ requested: "flash_attention_2", probe: probe({ flashAttn: false, cudaCapable: true }) });
  expect(noPkg?.key).toBe("model.attn_implementation");
  expect(noPkg?.message).toContain("no flash_attn package");
  expect(noPkg?.fix).toContain("requirements-gpu.txt");
  const noGpu = checkAttention({ requested: "flash_attention_2", probe: probe({ flashAttn: true, cudaCapable: false }) });
  expect(noGpu?.message).toContain("compute capability >= 8.0");

  const c = config(d, { demo: { build_tiny_model: true, build_digits_dataset: true } }); // inputs otherwise fine
  c.model.attn_implementation = "flash_attention_2";
  let err: unknown;
  try {
    checkRunInputs({ config: c, outputDir: join(d, "out"), configHash: "h", sourceFile: null, probeAttention: probe({ flashAttn: false, cudaCapable: false }) });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  expect((err as UserError).exitCode).toBe(2);
  expect((err as UserError).message).toContain("model.attn_implementation: flash_attention_2 asked for");
});

test("probeAttention asks the engine's Python and answers booleans (null for a Python that does not run)", () => {
  const found = probeAttention(projectPython());
  expect(found).not.toBeNull();
  expect(typeof found!.flashAttn).toBe("boolean");
  expect(typeof found!.cudaCapable).toBe("boolean");
  expect(probeAttention("/nonexistent/python")).toBeNull();
});
