import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { acquireRunLock, checkpointUsers, lockCheckpoint, pidAlive, readLock, RUN_LOCK_NAME } from "./lock.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "qc-lock-"));
  dirs.push(d);
  return d;
};
/** The pid of a process that has exited (for stale locks). */
function deadPid(): number {
  const r = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}
const T0 = Date.parse("2026-12-02T10:00:00Z");

describe("acquireRunLock: one training per output_dir", () => {
  test("writes pid, host, start time and command; release removes it", () => {
    const out = tmp();
    const release = acquireRunLock({ outputDir: out, pid: process.pid, now: () => T0, command: ["bun", "tasks/train.ts", "--config", "x.yaml"] });
    const lock = readLock(join(out, RUN_LOCK_NAME))!;
    expect(lock).toEqual({ pid: process.pid, host: hostname(), purpose: "train", started_at: "2026-12-02T10:00:00.000Z", command: ["bun", "tasks/train.ts", "--config", "x.yaml"] });
    expect(readdirSync(out)).toEqual([RUN_LOCK_NAME]); // no temporary file left beside it
    release();
    expect(existsSync(join(out, RUN_LOCK_NAME))).toBe(false);
    release(); // idempotent
  });

  test("a second training while the first runs is refused, naming the holder", () => {
    const out = tmp();
    const release = acquireRunLock({ outputDir: out, now: () => T0, command: ["bun", "tasks/train.ts", "--config", "first.yaml"] });
    let err: unknown;
    try {
      acquireRunLock({ outputDir: out, now: () => T0 + 1000, command: ["bun", "tasks/train.ts", "--config", "second.yaml"] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const e = err as UserError;
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(`another training is using ${out}`);
    expect(e.message).toContain(`pid ${process.pid} on ${hostname()}, started 2026-12-02T10:00:00.000Z`);
    expect(e.message).toContain("first.yaml");
    expect(e.hint).toContain("training.output_dir");
    // the first one's lock is untouched
    expect(readLock(join(out, RUN_LOCK_NAME))!.command).toContain("first.yaml");
    release();
    acquireRunLock({ outputDir: out })(); // free again
  });

  test("a stale lock (its process is gone) is taken over with a message", () => {
    const out = tmp();
    const dead = deadPid();
    expect(pidAlive(dead)).toBe(false);
    writeFileSync(join(out, RUN_LOCK_NAME), JSON.stringify({ pid: dead, host: hostname(), purpose: "train", started_at: "2026-12-01T00:00:00.000Z", command: ["old"] }));
    const lines: string[] = [];
    const release = acquireRunLock({ outputDir: out, log: (l) => lines.push(l) });
    expect(readLock(join(out, RUN_LOCK_NAME))!.pid).toBe(process.pid);
    expect(lines.join("\n")).toContain(`taking over a stale lock ${join(out, RUN_LOCK_NAME)}: its training (pid ${dead} on ${hostname()}, started 2026-12-01T00:00:00.000Z`);
    expect(lines.join("\n")).toContain("no longer running");
    expect(readdirSync(out)).toEqual([RUN_LOCK_NAME]);
    release();
  });

  test("a lock from another host is never judged stale (its pid cannot be checked here)", () => {
    const out = tmp();
    writeFileSync(join(out, RUN_LOCK_NAME), JSON.stringify({ pid: deadPid(), host: "gpu-node-7", purpose: "train", started_at: "x", command: [] }));
    expect(() => acquireRunLock({ outputDir: out })).toThrow(/another training is using .*gpu-node-7/);
    try {
      acquireRunLock({ outputDir: out });
    } catch (e) {
      expect((e as UserError).hint).toContain(`delete ${join(out, RUN_LOCK_NAME)}`);
    }
  });

  test("release leaves a lock that is no longer ours alone", () => {
    const out = tmp();
    const release = acquireRunLock({ outputDir: out, now: () => T0 });
    writeFileSync(join(out, RUN_LOCK_NAME), JSON.stringify({ pid: 4242, host: "elsewhere", purpose: "train", started_at: "y", command: [] }));
    release();
    expect(readLock(join(out, RUN_LOCK_NAME))!.pid).toBe(4242);
  });
});

describe("checkpoint in-use locks (export, push, evaluate)", () => {
  test("lockCheckpoint writes .in-use.<purpose>.<pid>; checkpointUsers sees it live; release removes it", () => {
    const ck = join(tmp(), "checkpoint-2");
    mkdirSync(ck);
    const release = lockCheckpoint({ checkpoint: ck, purpose: "push", now: () => T0, command: ["bun", "tasks/push.ts"] });
    expect(readdirSync(ck)).toEqual([`.in-use.push.${process.pid}`]);
    const users = checkpointUsers({ checkpoint: ck });
    expect(users.stale).toEqual([]);
    expect(users.live).toEqual([{ pid: process.pid, host: hostname(), purpose: "push", started_at: "2026-12-02T10:00:00.000Z", command: ["bun", "tasks/push.ts"] }]);
    release();
    expect(readdirSync(ck)).toEqual([]);
    expect(checkpointUsers({ checkpoint: ck }).live).toEqual([]);
  });

  test("nested holders in one process share the file until the last release", () => {
    const ck = join(tmp(), "checkpoint-4");
    mkdirSync(ck);
    const a = lockCheckpoint({ checkpoint: ck, purpose: "push" });
    const b = lockCheckpoint({ checkpoint: ck, purpose: "push" });
    a();
    a(); // a second call does not count twice
    expect(checkpointUsers({ checkpoint: ck }).live).toHaveLength(1);
    b();
    expect(readdirSync(ck)).toEqual([]);
  });

  test("a dead process's lock is stale; another host's is live; unrelated dot files are ignored", () => {
    const ck = join(tmp(), "checkpoint-6");
    mkdirSync(ck);
    const dead = deadPid();
    writeFileSync(join(ck, `.in-use.export.${dead}`), JSON.stringify({ pid: dead, host: hostname(), purpose: "export", started_at: "t", command: [] }));
    writeFileSync(join(ck, `.in-use.push.77`), JSON.stringify({ pid: 77, host: "other-host", purpose: "push", started_at: "t", command: [] }));
    writeFileSync(join(ck, `.in-use.evaluate.${dead + 100000}`), "torn"); // unreadable: judged by its name
    writeFileSync(join(ck, ".DS_Store"), "");
    const users = checkpointUsers({ checkpoint: ck, isAlive: (pid) => pid !== dead && pid !== dead + 100000 ? pidAlive(pid) : false });
    expect(users.stale.sort()).toEqual([join(ck, `.in-use.evaluate.${dead + 100000}`), join(ck, `.in-use.export.${dead}`)].sort());
    expect(users.live.map((l) => `${l.purpose}@${l.host}`)).toEqual(["push@other-host"]);
  });

  test("the purpose is part of a file name: only [a-z_]+", () => {
    expect(() => lockCheckpoint({ checkpoint: tmp(), purpose: "../x" })).toThrow("[a-z_]+");
  });
});
