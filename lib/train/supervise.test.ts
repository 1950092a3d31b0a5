import { expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configForTest } from "../data/fixtures.ts";
import { createRetentionRunner, STOP_MESSAGE, StopControl } from "./supervise.ts";

const watcher = () => {
  const notes: string[] = [];
  return { notes, w: { note: (l: string) => void notes.push(l) } as never };
};

test("StopControl: first Ctrl-C in training writes the stop file, the second aborts; listeners are removed", () => {
  const dir = mkdtempSync(join(tmpdir(), "qc-stop-"));
  const signals = new EventEmitter();
  const { notes, w } = watcher();
  const c = new StopControl({ signals: signals as never, watcher: w, stopFile: join(dir, ".stop_requested"), now: () => 0 });
  c.phase = "train";
  signals.emit("SIGINT");
  expect(existsSync(join(dir, ".stop_requested"))).toBe(true);
  expect(notes).toEqual([STOP_MESSAGE]);
  expect(c.aborted).toBe(false);
  signals.emit("SIGTERM");
  expect(c.aborted).toBe(true);
  c.dispose();
  expect(signals.listenerCount("SIGINT") + signals.listenerCount("SIGTERM") + signals.listenerCount("exit")).toBe(0);
  rmSync(dir, { recursive: true, force: true });
});

test("StopControl: Ctrl-C while the demo assets build aborts at once", () => {
  const c = new StopControl({ signals: new EventEmitter() as never, watcher: watcher().w, stopFile: "/nonexistent/x", now: () => 0 });
  c.request();
  expect(c.aborted).toBe(true);
  expect(c.stopped).toBe(true);
  c.dispose();
});

test("retention runner: serialized, protected paths passed, a failure noted and never thrown", async () => {
  const calls: unknown[] = [];
  const config = configForTest({ training: { checkpoint: { retention: "last:1", keep_optimizer_states: 0 } } });
  let fail = false;
  const { notes, w } = watcher();
  const r = createRetentionRunner({
    config,
    outputDir: "/o",
    protectedPaths: () => ["/o/checkpoint-2"],
    note: (l) => (w as { note: (l: string) => void }).note(l),
    retention: {
      applyRetention: (p) => {
        calls.push(p.bestPath);
        if (fail) throw new Error("disk gone");
      },
    },
  });
  r.apply("checkpoint-2");
  await r.settled();
  fail = true;
  r.apply("checkpoint-4");
  await r.settled();
  expect(calls).toEqual([["/o/checkpoint-2"], ["/o/checkpoint-2"]]);
  expect(r.notes).toEqual(["retention (last:1) failed after checkpoint-4, training continues: disk gone"]);
  expect(notes).toEqual(["warning: retention (last:1) failed after checkpoint-4, training continues: disk gone"]);
});
