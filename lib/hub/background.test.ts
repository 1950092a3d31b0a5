import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fabricateRun, startHubServer, type HubServer } from "../../test/hub_server.ts";
import { UserError } from "../util/errors.ts";
import { createBackgroundPusher, type HubSettings } from "./background.ts";

const TOKEN = "hf_backgroundToken1234567";
let hub: HubServer;
const runs: string[] = [];
let n = 0;

beforeAll(() => {
  hub = startHubServer({ tokens: { [TOKEN]: {} } });
});
afterAll(() => {
  hub.stop();
  for (const r of runs) rmSync(r, { recursive: true, force: true });
});
beforeEach(() => {
  hub.resetCounters();
  hub.clearFaults();
});

function setup(hubSettings: HubSettings, checkpoints: Parameters<typeof fabricateRun>[0], opts: { skipEvaluation?: boolean } = {}) {
  const out = fabricateRun(checkpoints, opts);
  runs.push(out);
  const repo = `me/bg-${++n}`;
  const lines: string[] = [];
  const pusher = createBackgroundPusher({
    config: { hub: { repo_id: repo, private: true, ...hubSettings } },
    outputDir: out,
    token: TOKEN,
    hubUrl: hub.url,
    log: (l) => void lines.push(l),
    sleep: async () => {},
    retries: 1,
    baseDelayMs: 1,
  });
  const event = (step: number, extra: { is_best?: boolean; is_final?: boolean } = {}) =>
    pusher.onCheckpoint({ step, path: join(out, `checkpoint-${step}`), is_best: false, is_final: false, ...extra });
  return { out, repo, lines, pusher, event };
}

const stepOf = (repo: string, branch: string) => JSON.parse(new TextDecoder().decode(hub.readFile(repo, branch, "training_info.json")!)).step;

describe("createBackgroundPusher", () => {
  test("every_save: each checkpoint on its branch, the best on main; onCheckpoint does not wait", async () => {
    const { repo, pusher, event } = setup({ push: "every_save" }, [
      { step: 10, evals: [["partial", { accuracy: 0.4 }]] },
      { step: 20, evals: [["partial", { accuracy: 0.9 }]], isBest: true },
      { step: 30, evals: [["partial", { accuracy: 0.7 }]], isFinal: true },
    ]);
    const t0 = performance.now();
    event(10);
    event(20, { is_best: true });
    event(30, { is_final: true });
    expect(performance.now() - t0).toBeLessThan(50);
    expect(hub.counters.commits).toBe(0); // nothing has happened yet: the pushes run in the background
    expect(pusher.pendingPaths().length).toBeGreaterThan(0);
    const reports = await pusher.drain();
    expect(reports.flatMap((r) => r.targets.map((t) => [t.branch, t.status]))).toEqual([
      ["checkpoint-10", "pushed"],
      ["checkpoint-20", "pushed"],
      ["checkpoint-30", "pushed"],
      ["main", "pushed"],
    ]);
    expect(hub.branches(repo)).toEqual(["checkpoint-10", "checkpoint-20", "checkpoint-30", "main"]);
    expect(stepOf(repo, "main")).toBe(20);
    expect(stepOf(repo, "checkpoint-30")).toBe(30);
    expect(hub.repo(repo)!.private).toBe(true);
    expect(pusher.pendingPaths()).toEqual([]);
  });

  test("best: main follows the best; with nothing evaluated the final one goes to main at the end", async () => {
    const a = setup({ push: "best" }, [
      { step: 10, evals: [["partial", { accuracy: 0.5 }]], isBest: true },
      { step: 20, evals: [["partial", { accuracy: 0.3 }]] },
    ]);
    a.event(10, { is_best: true });
    a.event(20);
    await a.pusher.drain();
    expect(a.pusher.mode).toBe("best");
    expect(hub.branches(a.repo)).toEqual(["main"]);
    expect(stepOf(a.repo, "main")).toBe(10);

    const b = setup({ push: "best" }, [{ step: 10 }, { step: 20, isFinal: true }], { skipEvaluation: true });
    b.event(10);
    b.event(20, { is_final: true });
    const reports = await b.pusher.drain();
    expect(reports).toHaveLength(1);
    expect(stepOf(b.repo, "main")).toBe(20);
  });

  test("final: only the final checkpoint, to main", async () => {
    const { repo, pusher, event } = setup({ push: "final" }, [{ step: 10 }, { step: 20, isFinal: true }]);
    event(10);
    event(20, { is_final: true });
    const reports = await pusher.drain();
    expect(reports.every((r) => r.ok)).toBe(true);
    expect(hub.branches(repo)).toEqual(["main"]);
    expect(stepOf(repo, "main")).toBe(20);
  });

  test("a failed push does not throw: it is reported with the command that finishes it", async () => {
    const { out, pusher, event, lines } = setup({ push: "every_save" }, [{ step: 10, isFinal: true }]);
    hub.failNext("commit", 1000);
    event(10, { is_final: true });
    const reports = await pusher.drain();
    const failed = reports.flatMap((r) => r.targets).filter((t) => t.status === "failed");
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0].error).toContain("HTTP 500");
    expect(failed[0].resumeCommand).toContain(`tasks/push.ts --checkpoint ${join(out, "checkpoint-10")}`);
    expect(lines.join("\n")).toContain("finish it later with: bun run tasks/push.ts");
  });

  test("a refused token disables the rest of the pushes, and drain still resolves", async () => {
    const out = fabricateRun([{ step: 10 }, { step: 20 }]);
    runs.push(out);
    const lines: string[] = [];
    const pusher = createBackgroundPusher({
      config: { hub: { push: "every_save", repo_id: "me/refused" } }, outputDir: out, token: "hf_notAValidToken00000", hubUrl: hub.url,
      log: (l) => void lines.push(l), sleep: async () => {},
    });
    await Bun.sleep(100); // the token is checked at once, before any checkpoint lands
    expect(lines.join("\n")).toContain("[hub] pushes disabled for this run");
    expect(lines.join("\n")).toContain("refused the token (HTTP 401)");
    pusher.onCheckpoint({ step: 10, path: join(out, "checkpoint-10") });
    pusher.onCheckpoint({ step: 20, path: join(out, "checkpoint-20") });
    const reports = await pusher.drain();
    expect(reports.length).toBeGreaterThanOrEqual(2);
    expect(reports.every((r) => !r.ok)).toBe(true);
    expect(reports[1].targets[0].error).toContain("not pushed: the Hub refused the token");
    expect(hub.counters.unauthorized).toBe(2); // repo check + create, once: later pushes never call the Hub
    expect(lines.join("\n")).not.toContain("hf_notAValidToken00000");
  });

  test("a checkpoint removed by retention before its push is reported, not thrown", async () => {
    const { out, pusher } = setup({ push: "every_save" }, [{ step: 10 }]);
    pusher.onCheckpoint({ step: 99, path: join(out, "checkpoint-99") });
    const reports = await pusher.drain();
    expect(reports[0].targets[0].error).toContain("no longer exists");
  });

  test("none does nothing; a push mode without repo_id or token is refused before training", async () => {
    const out = fabricateRun([{ step: 10 }]);
    runs.push(out);
    const none = createBackgroundPusher({ config: { hub: { push: "none" } }, outputDir: out, hubUrl: hub.url });
    none.onCheckpoint({ step: 10, path: join(out, "checkpoint-10") });
    expect(await none.drain()).toEqual([]);
    expect(hub.counters.totalRequests).toBe(0);
    expect(() => createBackgroundPusher({ config: { hub: { push: "final", repo_id: "" } }, outputDir: out, token: TOKEN })).toThrow("hub.repo_id is empty");
    expect(() => createBackgroundPusher({ config: { hub: { push: "final", repo_id: "bad" } }, outputDir: out, token: TOKEN })).toThrow(UserError);
    expect(() =>
      createBackgroundPusher({ config: { hub: { push: "final", repo_id: "me/x" } }, outputDir: out, env: { HF_HOME: join(out, "nohome") } }),
    ).toThrow("no Hugging Face token found");
  });
});
