import { describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { createEvalProgress } from "./progress.ts";
import type { EvalEngineEvent } from "./protocol.ts";

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  }) as Writable & { isTTY?: boolean };
  return { stream, text: () => chunks.join("") };
}

const events = (): EvalEngineEvent[] => [
  {
    event: "plan", time: 0, data: "/d/val.jsonl", data_sha256: "0123456789abcdef", eval_key: "k", num_samples: 9, num_batches: 3, batch_size: 4, world_size: 1,
    checkpoints: [
      { path: "/r/checkpoint-10", step: 10, action: "skip", source: "hf_model" },
      { path: "/r/checkpoint-20", step: 20, action: "evaluate", source: "deepspeed" },
    ],
  },
  { event: "preprocess", time: 0, batch: 3, num_batches: 3 },
  { event: "skip", time: 0, path: "/r/checkpoint-10", step: 10, reason: "already evaluated on this set" },
  { event: "checkpoint_start", time: 0, index: 1, total: 1, path: "/r/checkpoint-20", step: 20, source: "deepspeed" },
  { event: "progress", time: 0, path: "/r/checkpoint-20", batch: 1, num_batches: 3, samples: 4 },
  { event: "progress", time: 0, path: "/r/checkpoint-20", batch: 2, num_batches: 3, samples: 8 },
  { event: "progress", time: 0, path: "/r/checkpoint-20", batch: 3, num_batches: 3, samples: 9 },
  {
    event: "checkpoint_done", time: 0, path: "/r/checkpoint-20", step: 20, num_samples: 9, seconds: 1.5, load_seconds: 0.2, images_per_s: 6,
    metrics: { accuracy: 0.5, top5_accuracy: 1, macro_f1: 0.25, loss: 0.75 },
  },
];

describe("createEvalProgress", () => {
  test("plain lines when not a TTY, batch lines throttled", () => {
    const { stream, text } = sink();
    let t = 0;
    const p = createEvalProgress({ stream, isTTY: false, now: () => t, plainIntervalMs: 1000 });
    for (const ev of events()) p.onEvent(ev);
    p.stop();
    const out = text();
    expect(out).toContain("[evaluate] 9 samples (/d/val.jsonl, sha256 0123456789ab), 3 batches of 4 x 1 process(es); 1 checkpoint(s) to evaluate, 1 already evaluated on this set (skipped)");
    expect(out).toContain("checkpoint-10: skipped (already evaluated on this set)");
    expect(out).toContain("[1/1] checkpoint-20 (weights from deepspeed)");
    expect(out).not.toContain("batch 1/3"); // within the interval
    expect(out).toContain("batch 3/3"); // the last batch always
    expect(out).toContain("checkpoint-20: accuracy 0.5000, macro-F1 0.2500, loss 0.7500 (1.5 s, 6.0 images/s)");
  });
  test("bars on a TTY (cli-progress) end with the checkpoint count complete", () => {
    const { stream, text } = sink();
    stream.isTTY = true;
    (stream as any).columns = 120;
    (stream as any).cursorTo = () => true;
    (stream as any).moveCursor = () => true;
    (stream as any).clearLine = () => true;
    (stream as any).clearScreenDown = () => true;
    const p = createEvalProgress({ stream, isTTY: true });
    for (const ev of events()) p.onEvent(ev);
    p.stop();
    expect(text()).toContain("checkpoints");
    expect(text()).toMatch(/1\/1 checkpoint-20: acc 0\.5000/);
  });
});
