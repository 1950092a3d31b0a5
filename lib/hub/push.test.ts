import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fabricateRun, startHubServer, type HubServer } from "../../test/hub_server.ts";
import { planPush, type PushPlan } from "./plan.ts";
import { silentProgress } from "./progress.ts";
import { checkpointUsers } from "../checkpoints/lock.ts";
import { applyRetention } from "../checkpoints/retention.ts";
import { executePush, HubAuthError, staleFiles, type ExecutePushParams } from "./push.ts";

const TOKEN = "hf_testWriteToken0123456789";
const READ_ONLY = "hf_testReadOnlyToken987654";
let hub: HubServer;
const runs: string[] = [];
let repoCounter = 0;
const slept: number[] = [];

beforeAll(() => {
  hub = startHubServer({ tokens: { [TOKEN]: { write: true }, [READ_ONLY]: { write: false } } });
});
afterAll(() => {
  hub.stop();
  for (const r of runs) rmSync(r, { recursive: true, force: true });
});
beforeEach(() => {
  hub.resetCounters();
  hub.clearFaults();
  slept.length = 0;
});

function run(...args: Parameters<typeof fabricateRun>): string {
  const r = fabricateRun(...args);
  runs.push(r);
  return r;
}
const newRepo = () => `me/model-${++repoCounter}`;
const push = (plan: PushPlan, over: Partial<ExecutePushParams> = {}) =>
  executePush({ plan, token: TOKEN, hubUrl: hub.url, sleep: async (ms) => void slept.push(ms), baseDelayMs: 10, ...over });

/** Every planned file arrived byte for byte on the branch. */
function expectBranchHolds(repo: string, branch: string, plan: PushPlan, targetIndex: number) {
  const t = plan.targets[targetIndex];
  for (const f of t.files) {
    const expected = f.content.kind === "file" ? new Uint8Array(readFileSync(f.content.path)) : f.content.data;
    const got = hub.readFile(repo, branch, f.pathInRepo);
    expect(got, `${branch}:${f.pathInRepo}`).not.toBeNull();
    expect(Buffer.compare(Buffer.from(got!), Buffer.from(expected)), `${branch}:${f.pathInRepo} differs`).toBe(0);
  }
  expect(hub.listFiles(repo, branch)).toEqual([".gitattributes", ...t.files.map((f) => f.pathInRepo)].sort());
}

test("the checkpoint carries a push in-use lock while it is pushed (retention keeps it), none after", async () => {
  const r = run([{ step: 10, weightBytes: 6000 }, { step: 20, weightBytes: 6000 }]);
  const ck = join(r, "checkpoint-10");
  const plan = planPush({ mode: "checkpoint", path: ck, repo: newRepo(), private: true });
  const seen: string[] = [];
  const progress = {
    ...silentProgress,
    startTarget: () => {
      seen.push(...checkpointUsers({ checkpoint: ck }).live.map((l) => `${l.purpose}:${l.pid}`));
      const res = applyRetention({ outputDir: r, policy: "last:1" });
      seen.push(...res.rows.map((x) => `${x.name}:${x.action}`));
    },
  };
  const report = await push(plan, { progress });
  expect(report.ok).toBe(true);
  expect(seen).toEqual([`push:${process.pid}`, "checkpoint-10:keep", "checkpoint-20:keep"]);
  expect(readdirSync(ck).filter((n) => n.startsWith(".in-use."))).toEqual([]);
  // the lock file is never uploaded
  expect(report.targets[0].filesChanged.some((f) => f.includes("in-use"))).toBe(false);
});

describe("executePush against the test Hub", () => {
  test("--checkpoint: files arrive byte-identical (weights as LFS), repo created private; a second push sends nothing", async () => {
    const r = run([{ step: 10, evals: [["full", { accuracy: 0.8 }]], weightBytes: 6000 }]);
    const repo = newRepo();
    const plan = planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo, private: true });
    const report = await push(plan);
    expect(report.ok).toBe(true);
    expect(report.repoCreated).toBe(true);
    expect(hub.repo(repo)?.private).toBe(true);
    expect(report.targets[0].status).toBe("pushed");
    expect(report.targets[0].url).toContain(`${hub.url}/${repo}/commit/`);
    expectBranchHolds(repo, "main", plan, 0);
    expect(hub.isLfs(repo, "main", "model.safetensors")).toBe(true);
    expect(hub.isLfs(repo, "main", "config.json")).toBe(false);
    const weightsSize = plan.targets[0].files.find((f) => f.pathInRepo === "model.safetensors")!.size;
    expect(hub.counters.lfsBytesReceived).toBe(weightsSize);
    expect(report.targets[0].lfsBytesSent).toBe(weightsSize);
    expect(hub.counters.commits).toBe(1);

    hub.resetCounters();
    const again = await push(planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo, private: true }));
    expect(again.targets[0].status).toBe("up-to-date");
    expect(again.targets[0].filesUnchanged).toBe(plan.targets[0].files.length);
    expect(hub.counters.lfsBytesReceived).toBe(0);
    expect(hub.counters.requests.lfsUpload).toBe(0);
    expect(hub.counters.commits).toBe(0);
  });

  test("--all: main holds the best, each branch exactly its checkpoint; shared weights are sent once", async () => {
    const r = run([
      { step: 10 }, // not evaluated: its branch must not inherit main's eval_results.json
      { step: 20, evals: [["full", { accuracy: 0.9 }]] },
      { step: 30, evals: [["full", { accuracy: 0.8 }]], isFinal: true, seed: 20 }, // same weights as step 20
    ]);
    const repo = newRepo();
    const plan = planPush({ mode: "all", path: r, repo });
    const report = await push(plan);
    expect(report.targets.map((t) => [t.checkpoint, t.branch, t.status])).toEqual([
      ["checkpoint-20", "main", "pushed"],
      ["checkpoint-10", "checkpoint-10", "pushed"],
      ["checkpoint-20", "checkpoint-20", "pushed"],
      ["checkpoint-30", "checkpoint-30", "pushed"],
    ]);
    expect(hub.branches(repo)).toEqual(["checkpoint-10", "checkpoint-20", "checkpoint-30", "main"]);
    plan.targets.forEach((t, i) => expectBranchHolds(repo, t.branch, plan, i));
    expect(hub.listFiles(repo, "checkpoint-10")).not.toContain("eval_results.json");
    expect(report.targets[1].filesDeleted).toEqual(["eval_results.json"]);
    const ti = JSON.parse(new TextDecoder().decode(hub.readFile(repo, "main", "training_info.json")!));
    expect(ti.step).toBe(20);
    // two distinct weight files (step 10; steps 20 and 30 share bytes): each uploaded once
    const w = (s: number) => Bun.file(join(r, `checkpoint-${s}`, "hf_model", "model.safetensors")).size;
    expect(hub.counters.lfsObjectsStored).toBe(2);
    expect(hub.counters.lfsBytesReceived).toBe(w(10) + w(20));

    hub.resetCounters();
    const again = await push(planPush({ mode: "all", path: r, repo }));
    expect(again.targets.every((t) => t.status === "up-to-date")).toBe(true);
    expect(hub.counters.lfsBytesReceived).toBe(0);
    expect(hub.counters.commits).toBe(0);
  });

  test("injected 500s on every step of the upload are retried with backoff", async () => {
    const r = run([{ step: 10, evals: [["full", { accuracy: 0.5 }]] }]);
    const repo = newRepo();
    hub.failNext("create", 1);
    hub.failNext("preupload", 2);
    hub.failNext("lfsBatch", 1);
    hub.failNext("lfsUpload", 2, 503);
    hub.failNext("commit", 1, 502);
    const plan = planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo });
    const report = await push(plan);
    expect(report.ok).toBe(true);
    expect(hub.counters.injectedFailures).toBe(7);
    expect(report.retries).toBe(7);
    expect(slept.filter((ms) => ms === 20).length).toBeGreaterThan(0); // the second try of a request waits twice as long
    expect(Math.max(...slept)).toBe(20);
    expectBranchHolds(repo, "main", plan, 0);
  });

  test("dropped connections (upload, commit, listing) are survived", async () => {
    const r = run([{ step: 10 }]);
    const repo = newRepo();
    hub.dropNext("lfsUpload", 1);
    hub.dropNext("commit", 1);
    hub.dropNext("tree", 1);
    const plan = planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo });
    const report = await push(plan);
    expect(report.ok).toBe(true);
    expect(hub.counters.droppedConnections).toBe(3);
    expect(hub.counters.commits).toBe(1);
    expectBranchHolds(repo, "main", plan, 0);
  });

  test("answers lost after the Hub did the work (repo created, branch created, commit landed) are survived", async () => {
    const r = run([{ step: 10 }, { step: 20, isFinal: true }]);
    const repo = newRepo();
    hub.dropNext("create", 1, { afterHandling: true });
    hub.dropNext("branch", 1, { afterHandling: true });
    hub.dropNext("commit", 1, { afterHandling: true });
    const plan = planPush({ mode: "all", path: r, repo });
    const report = await push(plan);
    expect(report.ok).toBe(true);
    expect(hub.counters.droppedConnections).toBe(3);
    plan.targets.forEach((t, i) => expectBranchHolds(repo, t.branch, plan, i));
  });

  test("an interrupted push, run again, completes without re-sending the weights", async () => {
    const r = run([{ step: 10, weightBytes: 9000 }]);
    const repo = newRepo();
    hub.failNext("commit", 50);
    const plan = planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo });
    const first = await push(plan, { retries: 2 });
    expect(first.ok).toBe(false);
    expect(first.targets[0].status).toBe("failed");
    expect(first.targets[0].error).toContain("HTTP 500");
    expect(first.targets[0].resumeCommand).toBe(`bun run tasks/push.ts --checkpoint ${join(r, "checkpoint-10")} --repo ${repo} --hub-url ${hub.url}`);
    expect(hub.listFiles(repo, "main")).toEqual([".gitattributes"]);
    expect(hub.counters.lfsObjectsStored).toBe(1); // the weights had arrived before the commit failed

    hub.failNext("commit", 0);
    hub.resetCounters();
    const second = await push(planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo }));
    expect(second.targets[0].status).toBe("pushed");
    expect(second.targets[0].lfsBytesSent).toBe(0);
    expect(hub.counters.lfsBytesReceived).toBe(0);
    expect(hub.counters.requests.lfsBatch).toBe(1); // asked, and the Hub said it has the object
    expectBranchHolds(repo, "main", plan, 0);
  });

  test("a wrong token fails at once (401, no retry) with a clear message that does not contain it", async () => {
    const r = run([{ step: 10 }]);
    const bad = "hf_wrongTokenValue55555";
    const plan = planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo: newRepo() });
    let err: unknown;
    try {
      await push(plan, { token: bad, tokenSource: "HF_TOKEN" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HubAuthError);
    const e = err as HubAuthError;
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain("refused the token (HTTP 401); token from HF_TOKEN");
    expect(e.hint).toContain("https://huggingface.co/settings/tokens");
    expect(`${e.message} ${e.hint} ${e.stack}`).not.toContain(bad);
    expect(hub.counters.injectedFailures + hub.counters.requests.lfsUpload).toBe(0);
    expect(hub.counters.totalRequests).toBeLessThanOrEqual(2); // repo check + create, nothing retried
    expect(slept).toEqual([]);
  });

  test("a token without write access (403) stops at once", async () => {
    const r = run([{ step: 10 }]);
    const plan = planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo: newRepo() });
    await expect(push(plan, { token: READ_ONLY })).rejects.toThrow("denied write access");
    expect(slept).toEqual([]);
  });

  test("--create-pr opens a pull request and leaves main alone; --revision creates the branch", async () => {
    const r = run([{ step: 10 }, { step: 20, isFinal: true }]);
    const repo = newRepo();
    await push(planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo }));
    const mainBefore = hub.listFiles(repo, "main").map((p) => [p, Buffer.from(hub.readFile(repo, "main", p)!).toString("hex")]);
    const plan = planPush({ mode: "checkpoint", path: join(r, "checkpoint-20"), repo, createPr: true });
    const report = await push(plan);
    expect(report.targets[0].status).toBe("pull-request");
    expect(report.targets[0].url).toBe(`${hub.url}/${repo}/discussions/1`);
    expect(hub.listFiles(repo, "main").map((p) => [p, Buffer.from(hub.readFile(repo, "main", p)!).toString("hex")])).toEqual(mainBefore);
    expect(hub.repo(repo)!.pullRequests[0].target).toBe("main");
    expectBranchHolds(repo, "refs/pr/1", plan, 0);

    const rev = planPush({ mode: "checkpoint", path: join(r, "checkpoint-20"), repo, revision: "release" });
    const rep2 = await push(rev);
    expect(rep2.targets[0].status).toBe("pushed");
    expectBranchHolds(repo, "release", rev, 0);
  });

  test("a changed file is the only one sent again", async () => {
    const r = run([{ step: 10, evals: [["partial", { accuracy: 0.5 }]] }]);
    const repo = newRepo();
    await push(planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo }));
    // a later full evaluation rewrites eval_results.json (and so the card)
    const p = join(r, "checkpoint-10", "eval_results.json");
    const ev = JSON.parse(readFileSync(p, "utf8"));
    ev.full = { ...Object.values(ev)[0] as object, split: "full", metrics: { accuracy: 0.75 } };
    writeFileSync(p, JSON.stringify(ev));
    hub.resetCounters();
    const plan = planPush({ mode: "checkpoint", path: join(r, "checkpoint-10"), repo });
    const report = await push(plan);
    expect(report.targets[0].filesChanged.sort()).toEqual(["README.md", "eval_results.json"]);
    expect(hub.counters.lfsBytesReceived).toBe(0);
    expectBranchHolds(repo, "main", plan, 0);
  });
});

describe("staleFiles", () => {
  test("own branches drop everything foreign; main keeps files a user added", () => {
    const remote = [".gitattributes", "README.md", "model.safetensors", "model-00001-of-00002.safetensors", "eval_results.json", "logo.png", "notes.md"];
    const local = new Set(["README.md", "model.safetensors"]);
    expect(staleFiles(remote, local, true)).toEqual(["eval_results.json", "logo.png", "model-00001-of-00002.safetensors", "notes.md"]);
    expect(staleFiles(remote, local, false)).toEqual(["eval_results.json", "model-00001-of-00002.safetensors"]);
  });
});
