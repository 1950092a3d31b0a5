import { describe, expect, test } from "bun:test";
import { createWatcher, formatDuration } from "./watch.ts";

function sink(isTTY = false) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 160, write: (s: string) => void chunks.push(s) }, text: () => chunks.join("") };
}

const start = { event: "start", time: 1000, world_size: 2, total_steps: 10, steps_per_epoch: 5, epochs: 2, num_train_samples: 80, num_val_samples: 20, global_batch_size: 16, resumed_from_step: null };
const step = (n: number, t: number, loss: number) => ({ event: "step", time: t, step: n, total_steps: 10, epoch: n / 5, loss, lr: 1e-5, grad_norm: 0.5, samples_per_s: 32, memory_bytes: 3 * 1024 ** 3, memory_kind: "rss" });

describe("createWatcher (plain lines, not a TTY)", () => {
  test("prints start, one line per logging step with ETA from event times, eval, checkpoint with disk, error, end", () => {
    const out = sink(false);
    const w = createWatcher({ outputDir: "/runs/a", stderr: out.stream, disk: () => ({ runBytes: 5 * 1024 ** 2, freeBytes: 2 * 1024 ** 3 }) });
    expect(w.tty).toBe(false);
    w.onEvent(start);
    w.onEvent(step(2, 1010, 2.25));
    w.onEvent(step(4, 1014, 1.5)); // 2 s/step -> 6 steps left = 12 s
    w.onEvent({ event: "eval", time: 1015, step: 4, split: "partial", num_samples: 20, metrics: { accuracy: 0.75, loss: 0.9 }, checkpoint: null });
    w.onEvent({ event: "checkpoint", time: 1016, step: 4, path: "/runs/a/checkpoint-4", bytes: 3 * 1024 ** 2, seconds: 1.25, is_final: false, is_best: true, metric: 0.75 });
    w.onEvent({ event: "error", time: 1017, message: "data/train.jsonl:3: label 12 out of range", hint: "fix the data or set data.on_bad_sample: skip" });
    w.onEvent({ event: "end", time: 1018, status: "failed", step: 4, best_checkpoint: null });
    w.onEvent({ event: "future_thing", time: 1 });
    w.stop();
    const lines = out.text().trimEnd().split("\n");
    expect(lines[0]).toBe("training: 10 steps (2 epoch(s) x 5), 80 train / 20 val samples, world size 2, global batch 16");
    expect(lines[1]).toContain("step 2/10 (20%) | epoch 0.40 | loss 2.2500 | lr 1.00e-5");
    expect(lines[1]).toContain("ETA ?");
    expect(lines[2]).toContain("step 4/10 (40%)");
    expect(lines[2]).toContain("32.0 samples/s | rss 3.0 GiB | elapsed 14s | ETA 12s");
    expect(lines[3]).toBe("eval partial @ step 4: accuracy 0.7500, loss 0.9000 on 20 samples");
    expect(lines[4]).toBe("checkpoint step 4 [best]: /runs/a/checkpoint-4 (3.0 MiB in 1.3s) | run uses 5.0 MiB, 2.0 GiB free at /runs/a");
    expect(lines[5]).toBe("engine error: data/train.jsonl:3: label 12 out of range");
    expect(lines[6]).toBe("hint: fix the data or set data.on_bad_sample: skip");
    expect(lines[7]).toBe("training failed at step 4");
    expect(lines).toHaveLength(8);
    expect(w.state.checkpoints.map((c) => c.step)).toEqual([4]);
    expect(w.state.end?.status).toBe("failed");
  });

  test("plain progress line shows tokens/s and the padding share when the engine reports them", () => {
    const out = sink();
    const w = createWatcher({ outputDir: "/runs/a", stderr: out.stream, disk: () => ({ runBytes: 0, freeBytes: 1 }) });
    w.onEvent(start);
    w.onEvent({ ...step(2, 1010, 2.25), tokens_per_s: 1234.4, padding_fraction: 0.0625 });
    w.stop();
    expect(out.text()).toContain("32.0 samples/s | 1234 tokens/s | padding 6.3% | rss");
    expect(out.text()).not.toContain("MFU");
  });

  test("the progress line shows MFU when the engine reports one (on a GPU), and nothing for null", () => {
    const out = sink();
    const w = createWatcher({ outputDir: "/runs/a", stderr: out.stream, disk: () => ({ runBytes: 0, freeBytes: 1 }) });
    w.onEvent(start);
    w.onEvent({ ...step(2, 1010, 2.25), tokens_per_s: 1234.4, padding_fraction: 0, mfu: 0.4123 });
    w.onEvent({ ...step(3, 1011, 2.2), tokens_per_s: 1234.4, padding_fraction: 0, mfu: null });
    w.stop();
    const lines = out.text().split("\n").filter((l) => l.startsWith("step "));
    expect(lines[0]).toContain("1234 tokens/s | MFU 41.2% | padding 0.0% | rss");
    expect(lines[1]).toContain("1234 tokens/s | padding 0.0% | rss");
  });

  test("warns when free space is below one checkpoint, and survives a failing disk probe", () => {
    const out = sink(false);
    let fail = false;
    const w = createWatcher({
      outputDir: "/runs/b",
      stderr: out.stream,
      disk: () => {
        if (fail) throw new Error("ENOENT");
        return { runBytes: 10, freeBytes: 100 };
      },
    });
    w.onEvent({ event: "checkpoint", time: 1, step: 1, path: "/runs/b/checkpoint-1", bytes: 1000, seconds: 1, is_final: true, is_best: false, metric: null });
    fail = true;
    w.onEvent({ event: "checkpoint", time: 2, step: 2, path: "/runs/b/checkpoint-2", bytes: 1000, seconds: 1, is_final: true, is_best: false, metric: null });
    const lines = out.text().trimEnd().split("\n");
    expect(lines[0]).toContain("[final]");
    expect(lines[0]).toContain("WARNING: less free space than one checkpoint");
    expect(lines[1]).toContain("disk usage unavailable (ENOENT)");
  });
});

describe("createWatcher (TTY)", () => {
  test("draws a cli-progress bar with step, epoch, loss, lr, samples/s and ETA; notes go above it", () => {
    const out = sink(true);
    const w = createWatcher({ outputDir: "/runs/c", stderr: out.stream, disk: () => ({ runBytes: 1, freeBytes: 1 }) });
    expect(w.tty).toBe(true);
    w.onEvent(start);
    expect(w.barActive).toBe(true);
    w.onEvent(step(2, 1010, 2.25));
    w.onEvent(step(4, 1014, 1.5));
    w.note("stopping after the current step");
    w.stop();
    const text = out.text();
    expect(text).toContain("4/10 | epoch 0.80 | loss 1.5000 | lr 1.00e-5 | 32.0 samples/s | ETA 12s");
    expect(text).toContain("stopping after the current step");
    expect(text).not.toContain("step 4/10 (40%)"); // no plain lines when a bar is drawn
    expect(w.barActive).toBe(false);
  });
});

test("formatDuration", () => {
  expect(formatDuration(5)).toBe("5s");
  expect(formatDuration(125)).toBe("2m05s");
  expect(formatDuration(3 * 3600 + 7 * 60)).toBe("3h07m");
  expect(formatDuration(Number.NaN)).toBe("?");
});
