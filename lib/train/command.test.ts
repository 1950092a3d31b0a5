import { expect, test } from "bun:test";
import { countGpus } from "../util/gpus.ts";
import { buildLaunchCommand, defaultNprocPerNode, worldSizeFromArgv } from "./command.ts";

const base = { resolvedPath: "/o/resolved_config.json", dsConfigPath: "/o/ds_config.json", python: "/r/.venv/bin/python", engineDir: "/r/engine" };

test("single node: torchrun --standalone, engine module, env", () => {
  const { argv, env } = buildLaunchCommand({ ...base, nprocPerNode: 2, nnodes: 1, hasGpu: true });
  expect(argv).toEqual(["/r/.venv/bin/python", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "qc_engine.train", "--resolved", "/o/resolved_config.json", "--ds-config", "/o/ds_config.json"]);
  expect(env).toEqual({ PYTHONPATH: "/r/engine" });
});

test("one process on one node: torchrun too (one launch path for 1 or N processes)", () => {
  const { argv, env } = buildLaunchCommand({ ...base, nprocPerNode: 1, nnodes: 1, hasGpu: false, resume: "auto", allowBatchChange: true });
  expect(argv).toEqual(["/r/.venv/bin/python", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "qc_engine.train", "--resolved", "/o/resolved_config.json", "--ds-config", "/o/ds_config.json", "--resume", "auto", "--allow-batch-change"]);
  expect(env).toEqual({ PYTHONPATH: "/r/engine", DS_ACCELERATOR: "cpu" });
  expect(worldSizeFromArgv(argv)).toBe(1);
});

test("several nodes: rendezvous flags; resume passed through; CPU accelerator without GPU", () => {
  const { argv, env } = buildLaunchCommand({ ...base, nprocPerNode: 8, nnodes: 2, nodeRank: 1, rdzvEndpoint: "h0:29500", rdzvId: "job7", resume: "auto", hasGpu: false });
  expect(argv.slice(3, 17)).toEqual(["--nnodes", "2", "--node-rank", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", "h0:29500", "--rdzv-id", "job7", "--rdzv-conf", "join_timeout=600", "--nproc-per-node", "8"]);
  expect(argv).not.toContain("--standalone");
  expect(argv.slice(-2)).toEqual(["--resume", "auto"]);
  // --rdzv-timeout becomes c10d's join_timeout; the config hash lets the engine check that the nodes agree
  const timed = buildLaunchCommand({ ...base, nprocPerNode: 1, nnodes: 2, rdzvEndpoint: "h0:1", rdzvTimeout: 5, configHash: "abc" }).argv;
  expect(timed[timed.indexOf("--rdzv-conf") + 1]).toBe("join_timeout=5");
  expect(timed.slice(-2)).toEqual(["--config-hash", "abc"]);
  expect(buildLaunchCommand({ ...base, nprocPerNode: 1, nnodes: 1, configHash: "abc" }).argv).not.toContain("--config-hash");
  expect(env.DS_ACCELERATOR).toBe("cpu");
  expect(() => buildLaunchCommand({ ...base, nprocPerNode: 1, nnodes: 2 })).toThrow("rdzvEndpoint");
});

test("world size from torchrun flags (the launch argv run.ts gets)", () => {
  expect(worldSizeFromArgv(["torchrun", "--nproc-per-node", "4", "--nnodes", "2"])).toBe(8);
  expect(worldSizeFromArgv(["torchrun", "--nproc_per_node=3"])).toBe(3);
  expect(worldSizeFromArgv(["torchrun", "--nnodes=1:4"])).toBe(1);
  expect(worldSizeFromArgv(["python", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "qc_engine.train"])).toBe(2);
  // what buildLaunchCommand writes reads back as the same world size
  const { argv } = buildLaunchCommand({ ...base, nprocPerNode: 8, nnodes: 2, rdzvEndpoint: "h0:29500" });
  expect(worldSizeFromArgv(argv)).toBe(16);
});

test("GPU count from CUDA_VISIBLE_DEVICES, else nvidia-smi, else 0", () => {
  const none = () => null;
  expect(countGpus({ env: { CUDA_VISIBLE_DEVICES: "0,1,3" }, listGpus: none })).toBe(3);
  expect(countGpus({ env: { CUDA_VISIBLE_DEVICES: "" }, listGpus: () => "GPU 0: X\n" })).toBe(0);
  expect(countGpus({ env: { CUDA_VISIBLE_DEVICES: "0,-1,2" }, listGpus: none })).toBe(1);
  expect(countGpus({ env: {}, listGpus: () => "GPU 0: H100 (UUID: a)\nGPU 1: H100 (UUID: b)\n" })).toBe(2);
  expect(countGpus({ env: {}, listGpus: none })).toBe(0);
  expect(defaultNprocPerNode(0)).toBe(1);
  expect(defaultNprocPerNode(4)).toBe(4);
});

test("--allow-batch-change travels to the engine only with a resume", () => {
  expect(buildLaunchCommand({ ...base, nprocPerNode: 1, nnodes: 1, resume: "auto", allowBatchChange: true }).argv.slice(-3)).toEqual(["--resume", "auto", "--allow-batch-change"]);
  expect(buildLaunchCommand({ ...base, nprocPerNode: 1, nnodes: 1, allowBatchChange: true }).argv).not.toContain("--allow-batch-change");
});
