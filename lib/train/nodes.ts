// Several nodes (tasks/train.ts --nnodes N --node-rank R --rdzv-endpoint HOST:PORT on each node, one
// training.output_dir shared by all): who owns what, the line each launcher prints about its role, and
// what a failed rendezvous or a lost node means in words.
//
// The launcher of --node-rank 0 owns the run: the output_dir checks, the disk preflight (the run's
// checkpoints are counted once), resolved_config.json + ds_config.json, OUT/.train.lock, logs/train.log,
// the demo assets and a Hub model download, retention and Hub pushes. Any other node's launcher checks
// its own inputs (model, data), takes OUT/.train.node-R.lock (two launches of the same node refuse each
// other), tees its torchrun into logs/train.node-R.log and follows the shared events.jsonl. torchrun's c10d
// rendezvous orders the nodes itself, so the engine's rank 0 (events.jsonl, checkpoints' metadata) can run
// on any node; the engine checks that every node passed the same config and flags (qc_engine/nodes.py).
import { join } from "node:path";
import { RUN_LOCK_NAME } from "../checkpoints/lock.ts";

export interface NodeInfo {
  nnodes: number;
  nodeRank: number;
  nprocPerNode: number;
  /** HOST:PORT of the c10d rendezvous, the same on every node. */
  endpoint: string;
  rdzvId: string;
  /** Seconds the rendezvous waits for all nodes (torchrun's join_timeout). */
  joinTimeoutS: number;
}

/** The launcher that owns the run files: one node, or node rank 0 of several. */
export const ownsRun = (nodes: NodeInfo | null | undefined): boolean => !nodes || nodes.nodeRank === 0;

/** OUT/.train.lock for the owner, OUT/.train.node-R.lock for node R > 0. */
export function nodeLockName(nodes: NodeInfo | null | undefined): string {
  return ownsRun(nodes) ? RUN_LOCK_NAME : `.train.node-${nodes!.nodeRank}.lock`;
}

/** logs/train.log for the owner, logs/train.node-R.log for node R > 0 (every node's output kept on the shared disk). */
export function nodeLogPath(logDir: string, nodes: NodeInfo | null | undefined): string {
  return join(logDir, ownsRun(nodes) ? "train.log" : `train.node-${nodes!.nodeRank}.log`);
}

/** The line a launcher prints before it starts (several nodes only). */
export function roleLine(nodes: NodeInfo, outputDir: string): string {
  const where = `node ${nodes.nodeRank} of ${nodes.nnodes} (${nodes.nprocPerNode} process${nodes.nprocPerNode === 1 ? "" : "es"} here), rendezvous ${nodes.endpoint} id ${nodes.rdzvId}`;
  const wait = `waits up to ${nodes.joinTimeoutS} s (--rdzv-timeout) for all ${nodes.nnodes} nodes to join`;
  if (ownsRun(nodes)) {
    return `${where}: this launcher owns the run files in ${outputDir} (config, lock, logs/train.log, disk check, retention, Hub pushes); ${wait}`;
  }
  return (
    `${where}: a worker node; node 0's launcher owns the run files, the disk check, retention and Hub pushes in ` +
    `${outputDir} (shared by all nodes); this node's output goes to logs/train.node-${nodes.nodeRank}.log; ${wait}`
  );
}

/** What a failed multi-node run's torchrun log says about the other nodes, as one line with the fix; null: nothing node-specific. */
export function explainNodeFailure(p: { nodes: NodeInfo; logText: string }): string | null {
  const { nodes, logText } = p;
  const others = nodes.nnodes - 1;
  const otherRanks = Array.from({ length: nodes.nnodes }, (_, i) => i).filter((r) => r !== nodes.nodeRank);
  if (/RendezvousTimeoutError/.test(logText)) {
    return (
      `the other node${others === 1 ? "" : "s"} (--node-rank ${otherRanks.join(", ")}) did not join the rendezvous at ${nodes.endpoint} ` +
      `(id ${nodes.rdzvId}) within ${nodes.joinTimeoutS} s: start tasks/train.ts there with the same config, --nnodes ${nodes.nnodes}, ` +
      `--rdzv-endpoint ${nodes.endpoint} and --rdzv-id ${nodes.rdzvId}, check that ${nodes.endpoint} is reachable from every node, ` +
      `or allow more time with --rdzv-timeout SECONDS`
    );
  }
  const lost = /error: (lost contact with another rank[^\n]*)/.exec(logText);
  if (lost) return `${lost[1]}; see the other node's launcher output, then start every node again with --resume auto`;
  if (/RendezvousConnectionError|RendezvousClosedError/.test(logText)) {
    return (
      `lost the rendezvous at ${nodes.endpoint}: the node that hosted it stopped (its launcher was killed, it crashed, or it exited ` +
      `after a failure: see its output); start every node again with --resume auto`
    );
  }
  return null;
}

/** A multi-node run stopped with 143 (SIGTERM somewhere, or a node's launcher gone: its ranks ask everyone to stop and save). */
export function explainNodeStop(p: { nodes: NodeInfo; step: number | null }): string {
  return (
    `terminated after saving a checkpoint at step ${p.step ?? "?"}: a process on one of the ${p.nodes.nnodes} nodes got SIGTERM, or a node's ` +
    `launcher is gone (its workers then stop the whole run); see each node's output, then start every node again with --resume auto`
  );
}
