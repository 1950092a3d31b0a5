import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { explainNodeFailure, explainNodeStop, nodeLockName, nodeLogPath, ownsRun, roleLine, type NodeInfo } from "./nodes.ts";
import { runFilePaths, writeRunFiles } from "./run_files.ts";

const node = (nodeRank: number, extra: Partial<NodeInfo> = {}): NodeInfo => ({ nnodes: 2, nodeRank, nprocPerNode: 8, endpoint: "h0:29500", rdzvId: "job7", joinTimeoutS: 600, ...extra });
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const sink = () => {
  const chunks: string[] = [];
  return { write: (s: string) => void chunks.push(s), text: () => chunks.join("") };
};

test("node 0 (or a single node) owns the run: its lock and log names are the single-node ones", () => {
  expect([ownsRun(null), ownsRun(node(0)), ownsRun(node(1))]).toEqual([true, true, false]);
  expect([nodeLockName(null), nodeLockName(node(0)), nodeLockName(node(3, { nnodes: 4 }))]).toEqual([".train.lock", ".train.lock", ".train.node-3.lock"]);
  expect(nodeLogPath("/o/logs", node(0))).toBe("/o/logs/train.log");
  expect(nodeLogPath("/o/logs", node(1))).toBe("/o/logs/train.node-1.log");
});

test("role lines name the node, the rendezvous, who owns the run files and the join timeout", () => {
  expect(roleLine(node(0), "/o")).toBe(
    "node 0 of 2 (8 processes here), rendezvous h0:29500 id job7: this launcher owns the run files in /o (config, lock, logs/train.log, disk check, retention, Hub pushes); waits up to 600 s (--rdzv-timeout) for all 2 nodes to join",
  );
  const worker = roleLine(node(1, { nprocPerNode: 1, joinTimeoutS: 5 }), "/o");
  expect(worker).toStartWith("node 1 of 2 (1 process here), rendezvous h0:29500 id job7: a worker node; node 0's launcher owns the run files");
  expect(worker).toContain("logs/train.node-1.log; waits up to 5 s");
});

test("node 1's run files: only its own lock and logs/, never node 0's config, ds_config or lock", () => {
  const root = mkdtempSync(join(tmpdir(), "qc-nodes-"));
  dirs.push(root);
  const files = runFilePaths(join(root, "out"), node(1));
  const common = { previous: { state: "new" as const, checkpoints: [], hashes: [] }, resolvedDoc: { x: 1 }, dsConfig: {}, secrets: [], command: ["torchrun"], trackingEnabled: true, stderr: sink() };
  const release0 = writeRunFiles({ ...common, files: runFilePaths(files.outputDir, node(0)), nodes: node(0) });
  writeFileSync(files.stopFile, "a stop request node 1 must not clear");
  const release1 = writeRunFiles({ ...common, files, resolvedDoc: { x: 2 }, nodes: node(1) });
  expect(readdirSync(files.outputDir).sort()).toEqual([".stop_requested", ".train.lock", ".train.node-1.lock", "ds_config.json", "logs", "resolved_config.json"]);
  expect(files.logPath).toBe(join(files.outputDir, "logs", "train.node-1.log"));
  // a second launch of node 1 into the same output_dir is refused, naming the holder
  expect(() => writeRunFiles({ ...common, files, nodes: node(1) })).toThrow(`another training is using ${files.outputDir} (pid ${process.pid}`);
  release1();
  release0();
  expect(existsSync(join(files.outputDir, ".train.node-1.lock"))).toBe(false);
  expect(existsSync(join(files.outputDir, ".train.lock"))).toBe(false);
});

test("a rendezvous nobody joined: the missing nodes, the endpoint, the timeout and the fix", () => {
  const log = "...\ntorch.distributed.elastic.rendezvous.api.RendezvousTimeoutError\n";
  expect(explainNodeFailure({ nodes: node(0, { joinTimeoutS: 3 }), logText: log })).toBe(
    "the other node (--node-rank 1) did not join the rendezvous at h0:29500 (id job7) within 3 s: start tasks/train.ts there with the same config, " +
      "--nnodes 2, --rdzv-endpoint h0:29500 and --rdzv-id job7, check that h0:29500 is reachable from every node, or allow more time with --rdzv-timeout SECONDS",
  );
  expect(explainNodeFailure({ nodes: node(2, { nnodes: 4 }), logText: log })).toStartWith("the other nodes (--node-rank 0, 1, 3) did not join");
});

test("a lost node: the engine's line wins over torchrun's store error; other failures are not explained here", () => {
  const engine = "error: lost contact with another rank (this is rank 0 of 2 on h0): a process on another node died or its node left the run (Connection reset by peer)\n";
  const store = "torch.distributed.elastic.rendezvous.api.RendezvousConnectionError: The connection to the C10d store has failed.\n";
  expect(explainNodeFailure({ nodes: node(0), logText: store + engine })).toBe(
    "lost contact with another rank (this is rank 0 of 2 on h0): a process on another node died or its node left the run (Connection reset by peer); " +
      "see the other node's launcher output, then start every node again with --resume auto",
  );
  expect(explainNodeFailure({ nodes: node(1), logText: store })).toStartWith("lost the rendezvous at h0:29500: the node that hosted it stopped");
  expect(explainNodeFailure({ nodes: node(0), logText: "ValueError: bad data\n" })).toBeNull();
});

test("a multi-node run stopped with 143: which causes, and the fix", () => {
  expect(explainNodeStop({ nodes: node(0), step: 7 })).toBe(
    "terminated after saving a checkpoint at step 7: a process on one of the 2 nodes got SIGTERM, or a node's launcher is gone " +
      "(its workers then stop the whole run); see each node's output, then start every node again with --resume auto",
  );
});
