import { renameSync, rmSync } from "node:fs";
import type { HistogramRow } from "./check.ts";
import type { HistogramPlotInput } from "../../generated/messages.ts";
import { runEngineProcess, type SpawnEngine } from "../util/engine_process.ts";
import { projectPython } from "../util/python.ts";

const MODULE = "qc_engine.tools.plot_histogram";

/**
 * Writes the class histogram as a PNG with matplotlib (the project's Python already carries it;
 * a JS chart library would need a native canvas), through the engine-process runner. Resolves to
 * null on success, else the reason (the plot is a convenience: callers report it as a warning).
 */
export async function plotHistogram(params: {
  rows: HistogramRow[];
  outPath: string;
  title: string;
  python?: string;
  spawn?: SpawnEngine;
}): Promise<string | null> {
  const python = params.python ?? projectPython();
  const input: HistogramPlotInput = {
    title: params.title,
    names: params.rows.map((r) => r.name),
    train: params.rows.map((r) => r.train),
    val: params.rows.map((r) => r.val),
  };
  const tmp = `${params.outPath}.${process.pid}.tmp.png`;
  let failure: string | null;
  try {
    const { exitCode, stderrTail } = await runEngineProcess<never>({
      argv: [python, "-m", MODULE, tmp],
      what: "histogram plot",
      input: [JSON.stringify(input)], // one line: JSON.stringify writes no newline
      parseLine: () => null,
      spawn: params.spawn,
    });
    failure = exitCode === 0 ? null : `${python} -m ${MODULE} exited ${exitCode}: ${stderrTail.filter((l) => l.trim()).slice(-3).join(" ")}`;
  } catch (err) {
    failure = (err as Error).message; // could not start: a warning, not the end of the data check
  }
  if (failure) rmSync(tmp, { force: true });
  else renameSync(tmp, params.outPath);
  return failure;
}
