import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { resolveConfig, REPO_ROOT } from "../config/index.ts";
import { UserError } from "../util/errors.ts";
import { formatDryRun, planLaunch } from "./plan.ts";

const resolved = resolveConfig({ configPath: join(REPO_ROOT, "configs/food101.yaml"), cwd: REPO_ROOT });

describe("planLaunch", () => {
  test("one node on the CPU: standalone torchrun, 1 process, fp32 ds_config, CPU accelerator", () => {
    const p = planLaunch({ resolved, flags: {}, gpus: 0, python: "/py" });
    expect(p.launch.argv.slice(0, 6)).toEqual(["/py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"]);
    expect(p.launch.env.DS_ACCELERATOR).toBe("cpu");
    expect(p.worldSize).toBe(1);
    expect(p.hasGpu).toBe(false);
    expect(p.resume).toBeNull();
    expect(p.launch.argv).toContain(join(p.outputDir, "resolved_config.json"));
  });
  test("GPUs and nodes: world size = processes x nodes, rendezvous flags, resume path made absolute", () => {
    const p = planLaunch({
      resolved,
      flags: { "nproc-per-node": 4, nnodes: 2, "node-rank": 1, "rdzv-endpoint": "h0:29500", resume: "out/x/checkpoint-8" },
      gpus: 4,
      python: "/py",
      cwd: "/work",
    });
    expect(p.worldSize).toBe(8);
    expect(p.hasGpu).toBe(true);
    expect(p.resume).toBe("/work/out/x/checkpoint-8");
    expect(p.launch.argv).toEqual(expect.arrayContaining(["--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", "h0:29500", "--resume", "/work/out/x/checkpoint-8"]));
    expect(p.nodes).toEqual({ nnodes: 2, nodeRank: 1, nprocPerNode: 4, endpoint: "h0:29500", rdzvId: "qwen-classify", joinTimeoutS: 600 });
    expect(p.launch.argv.slice(-2)).toEqual(["--config-hash", resolved.configHash]);
  });
  test.each([
    [{ nnodes: 2 }, "--nnodes 2 needs --rdzv-endpoint"],
    [{ nnodes: 2, "node-rank": 2, "rdzv-endpoint": "h:1" }, "--node-rank 2 must be below --nnodes 2"],
    [{ "rdzv-timeout": 5 }, "--rdzv-timeout is for several nodes only: add --nnodes N (N > 1), or drop --rdzv-timeout"],
    [{ nnodes: 1, "rdzv-endpoint": "h:1" }, "--rdzv-endpoint is for several nodes only"],
  ])("bad launch flags %j: a UserError that says %s", (flags, message) => {
    expect(() => planLaunch({ resolved, flags, gpus: 0, python: "/py" })).toThrow(UserError);
    expect(() => planLaunch({ resolved, flags, gpus: 0, python: "/py" })).toThrow(message);
  });
});

describe("formatDryRun", () => {
  const plan = planLaunch({ resolved, flags: {}, gpus: 0, python: "/py" });
  test("--json: one object with the resolved config, overrides and the exact argv", () => {
    const obj = JSON.parse(formatDryRun({ resolved, plan, json: true }));
    expect(obj.command).toEqual(plan.launch.argv);
    expect(obj.config.training.output_dir).toBe(plan.outputDir);
    expect(Array.isArray(obj.overrides)).toBe(true);
    expect(obj.config_hash).toBe(resolved.configHash);
  });
  test("text: source, report, the env + argv as one copyable line, output_dir", () => {
    const text = formatDryRun({ resolved, plan, json: false });
    expect(text).toContain(`config: ${resolved.sourceFile} (valid)`);
    expect(text).toContain("DS_ACCELERATOR=cpu /py -m torch.distributed.run --standalone");
    expect(text).toContain(`output_dir: ${plan.outputDir}`);
  });
});
