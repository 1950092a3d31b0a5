import { expect, test } from "bun:test";
import { decideOutcome } from "./finish.ts";

const base = { lastError: undefined, aborted: false, logText: "", logPath: "/o/logs/train.log" };
const end = (status: string, extra: Record<string, unknown> = {}) => ({ event: "end", status, step: 4, ...extra }) as never;

test("completed needs both the engine's end event and exit 0", () => {
  expect(decideOutcome({ ...base, exit: { code: 0, signal: null }, end: end("completed") })).toEqual({ status: "completed", exitCode: 0, reason: null });
  const noEnd = decideOutcome({ ...base, exit: { code: 0, signal: null }, end: null });
  expect(noEnd).toEqual({ status: "failed", exitCode: 1, reason: "worker died: see /o/logs/train.log" });
  const badExit = decideOutcome({ ...base, exit: { code: 1, signal: null }, end: end("completed") });
  expect(badExit.reason).toBe("training completed but torchrun exited with 1: see /o/logs/train.log");
});

test("interrupted: a stop request (130 with the step) or an abort", () => {
  expect(decideOutcome({ ...base, exit: { code: 0, signal: null }, end: end("interrupted", { step: 7 }) })).toEqual({ status: "interrupted", exitCode: 130, reason: "stopped on request after saving a checkpoint at step 7" });
  expect(decideOutcome({ ...base, aborted: true, exit: { code: null, signal: "SIGKILL" }, end: null }).reason).toContain("second Ctrl-C");
});

test("terminated: SIGTERM (preemption) or the launcher gone is 143, distinct from a requested stop's 130", () => {
  const o = decideOutcome({ ...base, exit: { code: 1, signal: null }, end: end("interrupted", { step: 9, exit_code: 143 }) });
  expect(o).toEqual({ status: "interrupted", exitCode: 143, reason: "terminated (SIGTERM / preemption) after saving a checkpoint at step 9" });
  expect(decideOutcome({ ...base, exit: { code: 0, signal: null }, end: end("interrupted", { step: 9, exit_code: 130 }) }).exitCode).toBe(130);
});

test("failed: the engine's own exit code wins over torchrun's 1; a signal in the root cause is named", () => {
  const err = { event: "error", message: "data/train.jsonl:3: bad label", exit_code: 2 } as never;
  expect(decideOutcome({ ...base, exit: { code: 1, signal: null }, end: null, lastError: err })).toEqual({ status: "failed", exitCode: 2, reason: "the engine failed: data/train.jsonl:3: bad label" });
  expect(decideOutcome({ ...base, exit: { code: 1, signal: null }, end: end("failed", { exit_code: 3 }) }).exitCode).toBe(3);
  const killed = decideOutcome({ ...base, logText: "Root Cause (first observed failure):\n  exitcode  : -9 (pid: 1)\n", exit: { code: 1, signal: null }, end: null });
  expect(killed).toEqual({ status: "failed", exitCode: 1, reason: "worker died (killed by signal 9): see /o/logs/train.log" });
  // one process, no torchrun: the child itself was the worker
  const direct = decideOutcome({ ...base, logText: "", exit: { code: null, signal: "SIGKILL" }, end: null });
  expect(direct).toEqual({ status: "failed", exitCode: 1, reason: "worker died (killed by signal 9): see /o/logs/train.log" });
});
