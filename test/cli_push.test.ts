// tasks/push.ts end to end, as a user runs it, against the test Hub on 127.0.0.1.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fabricateRun, startHubServer, type HubServer } from "./hub_server.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const TOKEN = "hf_cliSecretToken24680aceg";
let hub: HubServer;
let home: string;
const runs: string[] = [];
const outputs: string[] = []; // every stdout/stderr, grepped for the token at the end

beforeAll(() => {
  hub = startHubServer({ tokens: { [TOKEN]: {} } });
  home = mkdtempSync(join(tmpdir(), "qc-push-home-"));
});
afterAll(() => {
  hub.stop();
  for (const r of [...runs, home]) rmSync(r, { recursive: true, force: true });
});
beforeEach(() => {
  hub.resetCounters();
  hub.clearFaults();
});

async function cli(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([BUN, "run", "tasks/push.ts", ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, HF_HOME: join(home, "hf"), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  outputs.push(stdout, stderr);
  return { stdout, stderr, code };
}

function run(...args: Parameters<typeof fabricateRun>): string {
  const r = fabricateRun(...args);
  runs.push(r);
  return r;
}

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...allFiles(p));
    else out.push(p);
  }
  return out;
}

describe("tasks/push.ts", () => {
  test("--help lists every option and exits 0", async () => {
    const { stdout, code } = await cli(["--help"]);
    expect(code).toBe(0);
    for (const flag of ["--checkpoint", "--all", "--best", "--repo", "--revision", "--private", "--create-pr", "--dry-run", "--token-file", "--hub-url"]) {
      expect(stdout).toContain(flag);
    }
  });

  test("bad input: no mode, two modes, a bad repo id, an unknown flag -> exit 2 with the culprit named", async () => {
    const r = run([{ step: 10 }]);
    let res = await cli(["--repo", "me/x"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("error: nothing to push");
    res = await cli(["--all", r, "--best", r, "--repo", "me/x"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("--all and --best are exclusive");
    res = await cli(["--all", r, "--repo", "not-a-repo"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("--repo 'not-a-repo' is not a repository id");
    res = await cli(["--all", r, "--repo", "me/x", "--frobnicate"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("frobnicate");
    expect(hub.counters.totalRequests).toBe(0);
  });

  test("--dry-run lists files, sizes and branches and sends nothing (no token needed)", async () => {
    const r = run([{ step: 10 }, { step: 20, isFinal: true }], { skipEvaluation: true });
    const { stdout, code } = await cli(["--all", r, "--repo", "me/dry", "--hub-url", hub.url, "--dry-run"]);
    expect(code).toBe(0);
    expect(stdout).toContain("checkpoint-20 -> branch main (nothing was evaluated: the final checkpoint)");
    expect(stdout).toContain("checkpoint-10 -> branch checkpoint-10");
    expect(stdout).toMatch(/model\.safetensors\s+4\.\d KiB/);
    expect(stdout).toContain("dry run: nothing was sent");
    expect(hub.counters.totalRequests).toBe(0);
    expect(hub.repo("me/dry")).toBeUndefined();
  });

  test("--all with HF_TOKEN: branches and main land; the same command again sends no LFS bytes", async () => {
    const r = run([
      { step: 10, evals: [["full", { accuracy: 0.6 }]] },
      { step: 20, evals: [["full", { accuracy: 0.8, macro_f1: 0.75 }]], isFinal: true },
    ]);
    const first = await cli(["--all", r, "--repo", "me/cli-all", "--hub-url", hub.url, "--private"], { HF_TOKEN: TOKEN });
    expect(first.stderr).toContain("[push] checkpoint-20 -> me/cli-all@main");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("ok      checkpoint-20 -> me/cli-all@main: commit with 7 file(s)");
    expect(hub.branches("me/cli-all")).toEqual(["checkpoint-10", "checkpoint-20", "main"]);
    expect(hub.repo("me/cli-all")!.private).toBe(true);
    const card = new TextDecoder().decode(hub.readFile("me/cli-all", "main", "README.md")!);
    expect(card).toContain("value: 0.8");
    const weights = readFileSync(join(r, "checkpoint-20", "hf_model", "model.safetensors"));
    expect(Buffer.compare(Buffer.from(hub.readFile("me/cli-all", "main", "model.safetensors")!), weights)).toBe(0);
    expect(hub.counters.lfsBytesReceived).toBeGreaterThan(0);

    hub.resetCounters();
    const second = await cli(["--all", r, "--repo", "me/cli-all", "--hub-url", hub.url], { HF_TOKEN: TOKEN });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("already up to date");
    expect(hub.counters.lfsBytesReceived).toBe(0);
    expect(hub.counters.commits).toBe(0);
  });

  test("--token-file, and repo + endpoint taken from the run's config", async () => {
    const r = run([{ step: 10, isFinal: true }], { hub: { repo_id: "me/from-config", endpoint: hub.url } });
    const tokenFile = join(home, "token.txt");
    writeFileSync(tokenFile, TOKEN + "\n");
    const res = await cli(["--checkpoint", join(r, "checkpoint-10"), "--token-file", tokenFile]);
    expect(res.code).toBe(0);
    expect(hub.listFiles("me/from-config", "main")).toContain("model.safetensors");
  });

  test("the usual token file ($HF_HOME/token) is used when nothing else is given", async () => {
    const r = run([{ step: 10 }]);
    mkdirSync(join(home, "hf"), { recursive: true });
    writeFileSync(join(home, "hf", "token"), TOKEN);
    const res = await cli(["--checkpoint", join(r, "checkpoint-10"), "--repo", "me/default-file", "--hub-url", hub.url]);
    rmSync(join(home, "hf", "token"));
    expect(res.code).toBe(0);
    expect(hub.listFiles("me/default-file", "main")).toContain("training_info.json");
  });

  test("a wrong token fails fast: exit 2, a clear message, no retries", async () => {
    const r = run([{ step: 10 }]);
    const wrong = "hf_wrongCliToken13579bdfh";
    const t0 = performance.now();
    const res = await cli(["--checkpoint", join(r, "checkpoint-10"), "--repo", "me/denied", "--hub-url", hub.url], { HF_TOKEN: wrong });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`error: ${hub.url} refused the token (HTTP 401); token from HF_TOKEN`);
    expect(res.stderr).toContain("hint: the token is wrong, expired or revoked");
    expect(res.stdout + res.stderr).not.toContain(wrong);
    expect(hub.counters.totalRequests).toBeLessThanOrEqual(2);
    expect(performance.now() - t0).toBeLessThan(5000);
    const missing = await cli(["--checkpoint", join(r, "checkpoint-10"), "--repo", "me/denied", "--hub-url", hub.url]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no Hugging Face token found");
    const malformed = await cli(["--checkpoint", join(r, "checkpoint-10"), "--repo", "me/denied", "--hub-url", hub.url], { HF_TOKEN: "abc_notatoken_secret" });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('does not start with "hf_"');
    expect(malformed.stderr).not.toContain("notatoken_secret");
  });

  test("the token appears in no output and in no file (run folders, home, what the Hub stored)", () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const o of outputs) expect(o).not.toContain(TOKEN);
    const files = [...runs.flatMap(allFiles), ...allFiles(home).filter((f) => !f.endsWith("token.txt"))];
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) expect(readFileSync(f).includes(TOKEN), f).toBe(false);
    for (const repo of ["me/cli-all", "me/from-config", "me/default-file"]) {
      for (const branch of hub.branches(repo)) {
        for (const p of hub.listFiles(repo, branch)) expect(Buffer.from(hub.readFile(repo, branch, p)!).includes(TOKEN)).toBe(false);
      }
    }
  });
});
