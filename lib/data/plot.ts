import { spawn as nodeSpawn } from "node:child_process";
import { renameSync, rmSync } from "node:fs";
import type { HistogramRow } from "./check.ts";
import type { HistogramPlotInput } from "../../generated/messages.ts";
import { engineEnv } from "../util/engine_process.ts";
import { PROJECT_ROOT, projectPython } from "../util/python.ts";

const MODULE = "qc_engine.tools.plot_histogram";

/**
 * Writes the class histogram as a PNG with matplotlib (the project's Python already carries it;
 * a JS chart library would need a native canvas). Resolves to null on success, else the reason
 * (the plot is a convenience: callers report it as a warning).
 */
export async function plotHistogram(params: {
  rows: HistogramRow[];
  outPath: string;
  title: string;
  python?: string;
  spawn?: typeof nodeSpawn;
}): Promise<string | null> {
  const spawn = params.spawn ?? nodeSpawn;
  const python = params.python ?? projectPython();
  const input: HistogramPlotInput = {
    title: params.title,
    names: params.rows.map((r) => r.name),
    train: params.rows.map((r) => r.train),
    val: params.rows.map((r) => r.val),
  };
  const payload = JSON.stringify(input);
  const tmp = `${params.outPath}.${process.pid}.tmp.png`;
  const failure: string | null = await new Promise((resolveResult) => {
    let stderr = "";
    const child = spawn(python, ["-m", MODULE, tmp], { stdio: ["pipe", "ignore", "pipe"], env: engineEnv(), cwd: PROJECT_ROOT });
    child.on("error", (err) => resolveResult(`could not start ${python}: ${err.message}`));
    child.stderr!.on("data", (d) => (stderr += d.toString()));
    child.on("close", (code) => resolveResult(code === 0 ? null : `${python} -m ${MODULE} exited ${code}: ${stderr.trim().split("\n").slice(-3).join(" ")}`));
    child.stdin!.on("error", () => {});
    child.stdin!.end(payload);
  });
  if (failure) rmSync(tmp, { force: true });
  else renameSync(tmp, params.outPath);
  return failure;
}
