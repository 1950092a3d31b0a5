// How many GPUs this machine shows (the launcher's default process count, the disk preflight's
// precision=auto): here, low in the layers, so that every stage can ask without importing up.

/** GPUs visible: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L` (if installed), else 0. */
export function countGpus(params: { env?: Record<string, string | undefined>; listGpus?: () => string | null } = {}): number {
  const env = params.env ?? process.env;
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined) {
    const ids = visible.split(",").map((s) => s.trim()).filter((s) => s !== "");
    const firstBad = ids.findIndex((s) => s.startsWith("-"));
    return firstBad < 0 ? ids.length : firstBad; // CUDA stops at the first invalid id ("-1")
  }
  const listing = (params.listGpus ?? nvidiaSmiList)();
  if (!listing) return 0;
  return listing.split("\n").filter((l) => l.startsWith("GPU ")).length;
}

function nvidiaSmiList(): string | null {
  try {
    const r = Bun.spawnSync(["nvidia-smi", "-L"], { stdout: "pipe", stderr: "ignore" });
    return r.exitCode === 0 ? r.stdout.toString() : null;
  } catch {
    return null; // not installed
  }
}
