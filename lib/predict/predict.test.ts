// lib/predict: argument checks, the engine argv, events -> summary / errors, progress lines.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type { SpawnEngine } from "../util/engine_process.ts";
import { UserError } from "../util/errors.ts";
import { barProgress, buildPredictArgv, checkPredictParams, formatPredictReport, plainProgress, predict, type PredictSummary } from "./predict.ts";

const dir = mkdtempSync(join(tmpdir(), "qc-predict-unit-"));
const ckpt = join(dir, "checkpoint-5");
mkdirSync(join(ckpt, "hf_model"), { recursive: true });
const images = join(dir, "val.jsonl");
writeFileSync(images, '{"image": "a.png", "label": 0}\n');

const summary = (extra: Partial<PredictSummary> = {}): PredictSummary => ({
  out: join(dir, "p.jsonl"), format: "jsonl", num_images: 3, skipped: [], labeled: 3, accuracy: 2 / 3, seconds: 1.5,
  images_per_s: 2, model: join(ckpt, "hf_model"), source: "checkpoint", commit: null,
  preprocessing: { prompt: "p", image_min_pixels: 3136, image_max_pixels: 3136, from: join(dir, "resolved_config.json") },
  world_size: 1, device: "cpu", ...extra,
});

function fakeEngine(lines: object[], exitCode = 0, stderr: string[] = []) {
  const calls: string[][] = [];
  const spawn: SpawnEngine = (argv) => {
    calls.push(argv);
    const out = new PassThrough();
    const err = new PassThrough();
    setTimeout(() => {
      out.write("a stray library print\n");
      for (const l of lines) out.write(JSON.stringify(l) + "\n");
      for (const l of stderr) err.write(l + "\n");
      out.end();
      err.end();
    }, 1);
    return { stdout: out, stderr: err, exited: new Promise((r) => setTimeout(() => r(exitCode), 5)) };
  };
  return { spawn, calls };
}

const expectUserError = (fn: () => unknown, text: string, code = 2) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toContain(text);
    expect((err as UserError).exitCode).toBe(code);
    return;
  }
  throw new Error(`expected a UserError containing ${text}`);
};

describe("checkPredictParams", () => {
  test("accepts a folder or a Hub id, .jsonl/.csv; refuses the rest naming the flag", () => {
    expect(checkPredictParams({ checkpoint: ckpt, images: [images] }, dir).out).toBe(join(dir, "predictions.jsonl"));
    expect(checkPredictParams({ checkpoint: "me/model", images: [images], out: "x.csv" }, dir).out).toBe(join(dir, "x.csv"));
    expectUserError(() => checkPredictParams({ checkpoint: "./nope", images: [images] }, dir), "--checkpoint ./nope: no such folder");
    expectUserError(() => checkPredictParams({ checkpoint: ckpt, images: [join(dir, "missing.jsonl")] }, dir), "missing.jsonl: does not exist");
    expectUserError(() => checkPredictParams({ checkpoint: ckpt, images: [images], out: "p.txt" }, dir), "must end in .jsonl or .csv");
    expectUserError(() => checkPredictParams({ checkpoint: ckpt, images: [images], topK: 0 }, dir), "--top-k must be a whole number >= 1");
    expectUserError(() => checkPredictParams({ checkpoint: ckpt, images: [] }, dir), "--images is required");
  });
});

describe("buildPredictArgv", () => {
  test("one process, or torchrun with N; absolute paths; a Hub id passes as is", () => {
    const one = buildPredictArgv({ python: "py", checkpoint: ckpt, images: ["val.jsonl"], out: "/o.csv", cwd: dir, topK: 3 });
    expect(one).toEqual(["py", "-m", "qc_engine.predict", "--checkpoint", ckpt, "--images", images, "--out", "/o.csv", "--top-k", "3", "--on-bad-image", "error"]);
    const two = buildPredictArgv({ python: "py", checkpoint: "me/m", revision: "v1", images: [images], out: "/o.jsonl", cwd: dir, nprocPerNode: 2, onBadImage: "skip", batchSize: 4 });
    expect(two.slice(0, 6)).toEqual(["py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m"]);
    expect(two.slice(7, 11)).toEqual(["--checkpoint", "me/m", "--revision", "v1"]);
    expect(two.slice(-4)).toEqual(["--batch-size", "4", "--on-bad-image", "skip"]);
  });
});

describe("predict", () => {
  test("returns the engine's summary; progress sees every event", async () => {
    const seen: string[] = [];
    const { spawn, calls } = fakeEngine([{ event: "plan", num_images: 3 }, { event: "progress", batch: 1, num_batches: 1, images: 3 }, { event: "summary", ...summary() }]);
    const r = await predict({ checkpoint: ckpt, images: [images], cwd: dir, python: "py", spawn, progress: (e) => seen.push(e.event), log: () => {} });
    expect(r.accuracy).toBeCloseTo(2 / 3, 12);
    expect(seen).toEqual(["plan", "progress", "summary"]);
    expect(calls.length).toBe(1);
  });

  test("the engine's error event becomes the message and exit code; a crash shows the stderr tail", async () => {
    const bad = fakeEngine([{ event: "error", message: "x.png cannot be decoded", exit_code: 2 }], 2);
    await expect(predict({ checkpoint: ckpt, images: [images], cwd: dir, python: "py", spawn: bad.spawn, progress: () => {}, log: () => {} })).rejects.toMatchObject({ message: "x.png cannot be decoded", exitCode: 2 });
    const crash = fakeEngine([], 1, ["Traceback", "RuntimeError: boom"]);
    await expect(predict({ checkpoint: ckpt, images: [images], cwd: dir, python: "py", spawn: crash.spawn, progress: () => {}, log: () => {} })).rejects.toMatchObject({ exitCode: 1, message: expect.stringContaining("RuntimeError: boom") });
  });
});

test("plainProgress throttles batch lines; the report names accuracy, skips and the preprocessing source", () => {
  const out: string[] = [];
  let t = 0;
  const p = plainProgress({ write: (s) => out.push(s), now: () => t, intervalMs: 1000 });
  p({ event: "plan", num_images: 10, skipped: 1, labeled: 10, world_size: 2, device: "cpu", source: "hub", model: "/m" });
  for (let b = 1; b <= 5; b++) {
    t += 300;
    p({ event: "progress", batch: b, num_batches: 5, images: 2 * b });
  }
  expect(out[0]).toBe("[predict] 10 image(s) (1 bad, skipped), 10 labeled; model /m (hub); 2 process(es) on cpu\n");
  expect(out.slice(1)).toEqual(["[predict] batch 4/5 (8 images)\n", "[predict] batch 5/5 (10 images)\n"]);
  const text = formatPredictReport(summary({ skipped: [{ image: "/x.png", where: "/x.png", problem: "does not exist" }], commit: "abc123" }));
  expect(text).toContain("accuracy 66.67% on the 3 labeled image(s)");
  expect(text).toContain("skipped 1 bad image(s): /x.png");
  expect(text).toContain(`preprocessing from ${join(dir, "resolved_config.json")}; model commit abc123`);
});

test("barProgress: the plan line, then one bar over the images, stopped at the summary", () => {
  const calls: string[] = [];
  const lines: string[] = [];
  const factory = (label: string, total: number) => {
    calls.push(`start ${label} ${total}`);
    return { update: (v: number, d?: string) => calls.push(`update ${v} ${d}`), stop: () => calls.push("stop") };
  };
  const p = barProgress(factory, (s) => lines.push(s));
  p({ event: "plan", num_images: 10, skipped: 0, labeled: 0, world_size: 1, device: "cpu", source: "checkpoint", model: "/m" });
  p({ event: "progress", batch: 1, num_batches: 2, images: 8 });
  p({ event: "progress", batch: 2, num_batches: 2, images: 10 });
  p({ event: "summary", ...summary() });
  expect(lines).toEqual(["[predict] 10 image(s), 0 labeled; model /m (checkpoint); 1 process(es) on cpu\n"]);
  expect(calls).toEqual(["start predict 10", "update 8 batch 1/2", "update 10 batch 2/2", "stop"]);
});
