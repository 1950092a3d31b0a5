// The one torchrun (python -m torch.distributed.run) command builder for qc_engine.train.
import { enginePythonPath } from "../util/python.ts";

export interface LaunchParams {
  resolvedPath: string;
  dsConfigPath: string;
  nprocPerNode: number;
  nnodes: number;
  nodeRank?: number;
  rdzvEndpoint?: string;
  rdzvId?: string;
  /** Several nodes: seconds the rendezvous waits for every node to join (torchrun's c10d join_timeout). */
  rdzvTimeout?: number;
  /** Several nodes: the config hash this node resolved; the engine checks that all nodes agree. */
  configHash?: string;
  resume?: string | null;
  /** resume with a different global batch: a warning instead of exit 2 */
  allowBatchChange?: boolean;
  python: string;
  engineDir: string;
  /** no GPU: DeepSpeed's CPU accelerator (gloo) is forced */
  hasGpu?: boolean;
}

export interface LaunchCommand {
  argv: string[];
  /** The Python that torchrun runs under (demo assets use the same one). */
  python: string;
  /** variables to add to the inherited environment */
  env: Record<string, string>;
}

export const DEFAULT_RDZV_ID = "qwen-classify";
/** torchrun's own c10d default (600 s): long enough for every node's launcher to check its inputs and start. */
export const DEFAULT_RDZV_TIMEOUT_S = 600;

/**
 * torchrun launches the engine on one process too (the product's contract: one launch path, one set of
 * signal and exit semantics for 1 or N processes). Its agent costs ~2-4 s per run on 2 shared cores (a
 * second Python importing torch, the rendezvous, the exit barrier: BENCHMARKS.md, start-up); a direct
 * single-process launch was measured and not kept for that reason.
 */
export function buildLaunchCommand(p: LaunchParams): LaunchCommand {
  const env: Record<string, string> = { PYTHONPATH: enginePythonPath({ engineDir: p.engineDir }) };
  if (p.hasGpu === false) env.DS_ACCELERATOR = "cpu";
  const engineArgs = ["-m", "qc_engine.train", "--resolved", p.resolvedPath, "--ds-config", p.dsConfigPath];
  if (p.resume) engineArgs.push("--resume", p.resume);
  if (p.resume && p.allowBatchChange) engineArgs.push("--allow-batch-change");
  const argv = [p.python, "-m", "torch.distributed.run"];
  if (p.nnodes <= 1) {
    argv.push("--standalone");
  } else {
    if (!p.rdzvEndpoint) throw new Error("buildLaunchCommand: several nodes need rdzvEndpoint (host:port)");
    // c10d orders the nodes itself and ignores --node-rank (it is passed for the record); our launcher uses
    // the node rank only to decide which launcher owns the run files (lib/train/nodes.ts).
    argv.push("--nnodes", String(p.nnodes), "--node-rank", String(p.nodeRank ?? 0), "--rdzv-backend", "c10d", "--rdzv-endpoint", p.rdzvEndpoint, "--rdzv-id", p.rdzvId ?? DEFAULT_RDZV_ID);
    argv.push("--rdzv-conf", `join_timeout=${p.rdzvTimeout ?? DEFAULT_RDZV_TIMEOUT_S}`);
  }
  argv.push("--nproc-per-node", String(p.nprocPerNode), ...engineArgs);
  if (p.nnodes > 1 && p.configHash) argv.push("--config-hash", p.configHash);
  return { argv, python: p.python, env };
}

/** World size of a torchrun argv: --nproc-per-node x --nnodes (1 when not given; elastic "1:4" counts its minimum). */
export function worldSizeFromArgv(argv: string[]): number {
  const value = (names: string[]): number | null => {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      for (const n of names) {
        if (a === n && i + 1 < argv.length) return Number.parseInt(argv[i + 1]!, 10);
        if (a.startsWith(n + "=")) return Number.parseInt(a.slice(n.length + 1), 10);
      }
    }
    return null;
  };
  const positive = (n: number | null) => (n !== null && Number.isFinite(n) && n > 0 ? n : 1);
  return positive(value(["--nproc-per-node", "--nproc_per_node"])) * positive(value(["--nnodes"]));
}

/** Default --nproc-per-node: one process per visible GPU, or 1 on the CPU. */
export function defaultNprocPerNode(gpus: number): number {
  return Math.max(1, gpus);
}
