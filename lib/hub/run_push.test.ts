import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fabricateRun, startHubServer, type HubServer } from "../../test/hub_server.ts";
import { silentProgress } from "./progress.ts";
import { runPush, type RunPushParams } from "./run_push.ts";

const TOKEN = "hf_runPushToken1122334455";
let hub: HubServer;
const runs: string[] = [];
beforeAll(() => {
  hub = startHubServer({ tokens: { [TOKEN]: {} } });
});
afterAll(() => {
  hub.stop();
  for (const r of runs) rmSync(r, { recursive: true, force: true });
});

function sink() {
  let text = "";
  return { write: (s: string) => void (text += s), text: () => text };
}

const base = (over: Partial<RunPushParams>): RunPushParams => ({
  env: { HF_TOKEN: TOKEN },
  hubUrl: hub.url,
  sleep: async () => {},
  progress: silentProgress,
  ...over,
});

describe("runPush", () => {
  test("a push that keeps failing exits 1 and says how to finish it", async () => {
    const r = fabricateRun([{ step: 10 }]);
    runs.push(r);
    hub.failNext("commit", 1000);
    const out = sink();
    const res = await runPush(base({ checkpoint: join(r, "checkpoint-10"), repo: "me/flaky", stdout: out }));
    hub.failNext("commit", 0);
    expect(res.exitCode).toBe(1);
    expect(out.text()).toContain("FAILED  checkpoint-10 -> me/flaky@main: HTTP 500");
    expect(out.text()).toContain(`finish it later with: bun run tasks/push.ts --checkpoint ${join(r, "checkpoint-10")} --repo me/flaky --hub-url ${hub.url}`);
    expect(out.text()).not.toContain(TOKEN);
    // ... and that command finishes it
    const again = await runPush(base({ checkpoint: join(r, "checkpoint-10"), repo: "me/flaky", stdout: sink() }));
    expect(again.exitCode).toBe(0);
    expect(hub.listFiles("me/flaky", "main")).toContain("model.safetensors");
  });

  test("visibility: --private forces it; otherwise hub.private of the run's config", async () => {
    const pub = fabricateRun([{ step: 10 }], { hub: { private: false } });
    runs.push(pub);
    await runPush(base({ checkpoint: join(pub, "checkpoint-10"), repo: "me/public", stdout: sink() }));
    expect(hub.repo("me/public")!.private).toBe(false);
    await runPush(base({ checkpoint: join(pub, "checkpoint-10"), repo: "me/forced", private: true, stdout: sink() }));
    expect(hub.repo("me/forced")!.private).toBe(true);
  });

  test("no repo anywhere, and a bad --hub-url, are clear errors before anything is sent", async () => {
    const r = fabricateRun([{ step: 10 }]);
    runs.push(r);
    hub.resetCounters();
    await expect(runPush(base({ all: r }))).rejects.toThrow("no target repository");
    await expect(runPush(base({ all: r, repo: "me/x", hubUrl: "ftp://nope" }))).rejects.toThrow("is not an http(s) URL");
    expect(hub.counters.totalRequests).toBe(0);
  });
});
