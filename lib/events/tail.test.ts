import { describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, writeFileSync, rmSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readEvents, tailEvents, type AnyEvent, type BadLine } from "./tail.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const line = (obj: object) => JSON.stringify(obj) + "\n";

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "qc-tail-"));
}

describe("tailEvents", () => {
  test("waits for a file that does not exist yet, then follows it as it grows", async () => {
    const dir = tmp();
    const path = join(dir, "logs", "events.jsonl");
    const seen: AnyEvent[] = [];
    const tail = tailEvents({ path, onEvent: (e) => void seen.push(e), pollMs: 10 });
    await sleep(40);
    expect(seen).toEqual([]);
    require("node:fs").mkdirSync(join(dir, "logs"));
    writeFileSync(path, line({ event: "start", time: 1, total_steps: 4 }));
    await sleep(60);
    expect(seen.map((e) => e.event)).toEqual(["start"]);
    appendFileSync(path, line({ event: "step", time: 2, step: 1, loss: 2.5 }));
    await sleep(60);
    expect(seen.map((e) => e.event)).toEqual(["start", "step"]);
    expect((seen[1] as { loss: number }).loss).toBe(2.5);
    await tail.stop();
    expect(tail.count).toBe(2);
    rmSync(dir, { recursive: true });
  });

  test("buffers a partial last line until its newline arrives (also mid UTF-8 character)", async () => {
    const dir = tmp();
    const path = join(dir, "events.jsonl");
    const full = Buffer.from(line({ event: "error", time: 3, message: "bad label “ü” in x.jsonl:7" }));
    const cut = full.indexOf(Buffer.from("ü")) + 1; // splits the 2-byte character
    writeFileSync(path, full.subarray(0, cut));
    const seen: AnyEvent[] = [];
    const bad: BadLine[] = [];
    const tail = tailEvents({ path, onEvent: (e) => void seen.push(e), onBadLine: (b) => void bad.push(b), pollMs: 10 });
    await sleep(50);
    expect(seen).toEqual([]);
    appendFileSync(path, full.subarray(cut));
    await sleep(50);
    await tail.stop();
    expect(bad).toEqual([]);
    expect(seen).toHaveLength(1);
    expect((seen[0] as { message: string }).message).toBe("bad label “ü” in x.jsonl:7");
    rmSync(dir, { recursive: true });
  });

  test("stop() delivers a last line that never got its newline", async () => {
    const dir = tmp();
    const path = join(dir, "events.jsonl");
    writeFileSync(path, line({ event: "start", time: 1 }) + JSON.stringify({ event: "end", time: 2, status: "completed" }));
    const seen: AnyEvent[] = [];
    const tail = tailEvents({ path, onEvent: (e) => void seen.push(e), pollMs: 1000 });
    await sleep(30);
    expect(seen.map((e) => e.event)).toEqual(["start"]);
    await tail.stop();
    expect(seen.map((e) => e.event)).toEqual(["start", "end"]);
    rmSync(dir, { recursive: true });
  });

  test("a truncated or replaced file is read again from the start", async () => {
    const dir = tmp();
    const path = join(dir, "events.jsonl");
    writeFileSync(path, line({ event: "step", time: 1, step: 1 }) + line({ event: "step", time: 2, step: 2 }));
    const steps: number[] = [];
    const tail = tailEvents({ path, onEvent: (e) => void steps.push((e as { step: number }).step), pollMs: 10 });
    await sleep(50);
    writeFileSync(path, line({ event: "step", time: 3, step: 9 })); // truncate + rewrite (shorter)
    await sleep(50);
    const other = join(dir, "new.jsonl");
    writeFileSync(other, line({ event: "step", time: 4, step: 10 }) + line({ event: "step", time: 5, step: 11 }));
    renameSync(other, path); // replaced by a new inode
    await sleep(50);
    await tail.stop();
    expect(steps).toEqual([1, 2, 9, 10, 11]);
    rmSync(dir, { recursive: true });
  });

  test("bad lines and onEvent exceptions are reported, never fatal", async () => {
    const dir = tmp();
    const path = join(dir, "events.jsonl");
    writeFileSync(path, "not json\n" + line({ no_event: 1 }) + line({ event: "step", time: 1, step: 1 }) + line({ event: "step", time: 2, step: 2 }));
    const bad: BadLine[] = [];
    const errors: unknown[] = [];
    const steps: number[] = [];
    const tail = tailEvents({
      path,
      pollMs: 10,
      onBadLine: (b) => void bad.push(b),
      onError: (e) => void errors.push(e),
      onEvent: (e) => {
        const step = (e as { step: number }).step;
        if (step === 1) throw new Error("boom");
        steps.push(step);
      },
    });
    await sleep(50);
    await tail.stop();
    expect(bad.map((b) => b.lineNo)).toEqual([1, 2]);
    expect(bad[1]!.error).toContain("event");
    expect(errors.map((e) => (e as Error).message)).toEqual(["boom"]);
    expect(steps).toEqual([2]);
    rmSync(dir, { recursive: true });
  });

  test("an AbortSignal stops it", async () => {
    const dir = tmp();
    const path = join(dir, "events.jsonl");
    const ac = new AbortController();
    const seen: AnyEvent[] = [];
    const tail = tailEvents({ path, onEvent: (e) => void seen.push(e), pollMs: 10, signal: ac.signal });
    ac.abort();
    await tail.done;
    writeFileSync(path, line({ event: "start", time: 1 }));
    await sleep(40);
    expect(seen).toEqual([]);
    rmSync(dir, { recursive: true });
  });
});

describe("readEvents", () => {
  test("reads a finished file, skipping a torn last line and reporting it", async () => {
    const dir = tmp();
    const path = join(dir, "events.jsonl");
    writeFileSync(path, line({ event: "start", time: 1 }) + "\n" + line({ event: "end", time: 2, status: "failed" }) + '{"event": "ste');
    const bad: BadLine[] = [];
    const events = await readEvents({ path, onBadLine: (b) => void bad.push(b) });
    expect(events.map((e) => e.event)).toEqual(["start", "end"]);
    expect(bad).toHaveLength(1);
    expect(bad[0]!.lineNo).toBe(4);
    expect((await readEvents(path)).length).toBe(2);
    rmSync(dir, { recursive: true });
  });
});
