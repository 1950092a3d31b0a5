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

export function buildLaunchCommand(p: LaunchParams): LaunchCommand {
  const argv = [p.python, "-m", "torch.distributed.run"];
  if (p.nnodes <= 1) {
    argv.push("--standalone");
  } else {
    if (!p.rdzvEndpoint) throw new Error("buildLaunchCommand: several nodes need rdzvEndpoint (host:port)");
    argv.push("--nnodes", String(p.nnodes), "--node-rank", String(p.nodeRank ?? 0), "--rdzv-backend", "c10d", "--rdzv-endpoint", p.rdzvEndpoint, "--rdzv-id", p.rdzvId ?? "qwen-classify");
  }
  argv.push("--nproc-per-node", String(p.nprocPerNode));
  argv.push("-m", "qc_engine.train", "--resolved", p.resolvedPath, "--ds-config", p.dsConfigPath);
  if (p.resume) argv.push("--resume", p.resume);
  if (p.resume && p.allowBatchChange) argv.push("--allow-batch-change");
  const env: Record<string, string> = { PYTHONPATH: enginePythonPath({ engineDir: p.engineDir }) };
  if (p.hasGpu === false) env.DS_ACCELERATOR = "cpu";
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
