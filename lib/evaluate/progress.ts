// Progress of an evaluation from the engine's events: cli-progress bars over checkpoints and
// batches on a terminal, plain throttled lines otherwise (CI logs, pipes).
import cliProgress from "cli-progress";
import type { EvalEngineEvent } from "./protocol.ts";

export interface ProgressParams {
  /** Where bars or lines go (stderr: stdout stays clean for --json). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  isTTY?: boolean;
  now?: () => number;
  /** Plain mode: at most one batch line per checkpoint every this many ms. */
  plainIntervalMs?: number;
}

export interface EvalProgress {
  onEvent(ev: EvalEngineEvent): void;
  stop(): void;
}

const name = (path: string) => path.split("/").filter(Boolean).pop() ?? path;
// null: a non-finite metric (the engine writes NaN/inf as null).
const fixed4 = (v: number | null) => (v === null ? "n/a" : v.toFixed(4));

export function createEvalProgress(params: ProgressParams = {}): EvalProgress {
  const stream = params.stream ?? process.stderr;
  const isTTY = params.isTTY ?? Boolean(stream.isTTY);
  return isTTY ? barProgress(stream) : plainProgress(stream, params.now ?? Date.now, params.plainIntervalMs ?? 5000);
}

function plainProgress(stream: NodeJS.WritableStream, now: () => number, intervalMs: number): EvalProgress {
  let lastBatchLine = 0;
  let toEvaluate = 0;
  const say = (s: string) => stream.write(`[evaluate] ${s}\n`);
  return {
    onEvent(ev) {
      switch (ev.event) {
        case "plan": {
          toEvaluate = ev.checkpoints.filter((c) => c.action === "evaluate").length;
          const skipped = ev.checkpoints.length - toEvaluate;
          say(
            `${ev.num_samples} samples (${ev.data}, sha256 ${ev.data_sha256.slice(0, 12)}), ${ev.num_batches} batches of ${ev.batch_size} x ${ev.world_size} process(es); ` +
              `${toEvaluate} checkpoint(s) to evaluate${skipped ? `, ${skipped} already evaluated on this set (skipped)` : ""}`,
          );
          break;
        }
        case "preprocess":
          if (ev.batch === ev.num_batches || now() - lastBatchLine >= intervalMs) {
            lastBatchLine = now();
            say(`preprocessing ${ev.batch}/${ev.num_batches} batches`);
          }
          break;
        case "checkpoint_start":
          lastBatchLine = now();
          say(`[${ev.index}/${ev.total}] ${name(ev.path)} (weights from ${ev.source})`);
          break;
        case "progress":
          if (ev.batch === ev.num_batches || now() - lastBatchLine >= intervalMs) {
            lastBatchLine = now();
            say(`  ${name(ev.path)} batch ${ev.batch}/${ev.num_batches}`);
          }
          break;
        case "checkpoint_done":
          say(
            `  ${name(ev.path)}: accuracy ${fixed4(ev.metrics.accuracy)}, macro-F1 ${fixed4(ev.metrics.macro_f1)}, loss ${fixed4(ev.metrics.loss)} ` +
              `(${ev.seconds.toFixed(1)} s, ${ev.images_per_s.toFixed(1)} images/s)`,
          );
          break;
        case "skip":
          say(`${name(ev.path)}: skipped (${ev.reason})`);
          break;
        default:
          break;
      }
    },
    stop() {},
  };
}

function barProgress(stream: NodeJS.WritableStream): EvalProgress {
  const multi = new cliProgress.MultiBar(
    {
      stream: stream as NodeJS.WritableStream,
      clearOnComplete: false,
      hideCursor: true,
      format: "{label} [{bar}] {value}/{total} {info}",
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let checkpoints: cliProgress.SingleBar | null = null;
  let batches: cliProgress.SingleBar | null = null;
  let done = 0;
  return {
    onEvent(ev) {
      switch (ev.event) {
        case "plan": {
          const total = ev.checkpoints.filter((c) => c.action === "evaluate").length;
          checkpoints = multi.create(total, 0, { label: "checkpoints", info: `${ev.num_samples} samples` });
          batches = multi.create(ev.num_batches, 0, { label: "batches    ", info: "" });
          break;
        }
        case "preprocess":
          batches?.setTotal(ev.num_batches);
          batches?.update(ev.batch, { info: "preprocessing (once)" });
          break;
        case "checkpoint_start":
          batches?.update(0, { info: name(ev.path) });
          checkpoints?.update(done, { info: `${name(ev.path)} (${ev.source})` });
          break;
        case "progress":
          batches?.setTotal(ev.num_batches);
          batches?.update(ev.batch, { info: name(ev.path) });
          break;
        case "checkpoint_done":
          done += 1;
          checkpoints?.update(done, { info: `${name(ev.path)}: acc ${fixed4(ev.metrics.accuracy)}` });
          break;
        case "skip":
          multi.log(`${name(ev.path)}: skipped (${ev.reason})\n`);
          break;
        default:
          break;
      }
    },
    stop() {
      multi.stop();
    },
  };
}
