// Turns the engine's event stream into what the user sees while training runs:
// a cli-progress bar on a terminal, plain lines otherwise (CI logs), plus one line for every
// evaluation, checkpoint (with disk use) and error.
import cliProgress from "cli-progress";
import { runDiskUsage } from "../checkpoints/disk.ts";
import type { AnyEvent } from "../events/tail.ts";
import type { CheckpointEvent, EndEvent, ErrorEvent, EvalEvent, StartEvent, StepEvent } from "../events/types.ts";
import { formatBytes } from "../util/fs.ts";

export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface DiskReport {
  runBytes: number;
  freeBytes: number;
}

export interface WatchParams {
  outputDir: string;
  stderr?: OutStream;
  /** Draw a bar (default: stderr.isTTY). */
  tty?: boolean;
  /** Disk use of the run and free space at output_dir (injectable for tests). */
  disk?: (outputDir: string) => DiskReport;
}

export interface WatchState {
  start: StartEvent | null;
  lastStep: StepEvent | null;
  evals: EvalEvent[];
  checkpoints: CheckpointEvent[];
  errors: ErrorEvent[];
  end: EndEvent | null;
}

export interface Watcher {
  onEvent(event: AnyEvent): void;
  /** A launcher message, printed above the bar when one is drawn. */
  note(line: string): void;
  /** Whether a bar is (or will be) drawn on stderr: engine output should then go to the log only. */
  readonly tty: boolean;
  readonly barActive: boolean;
  readonly state: WatchState;
  stop(): void;
}

export function defaultDisk(outputDir: string): DiskReport {
  const u = runDiskUsage({ outputDir });
  return { runBytes: u.runBytes, freeBytes: u.free.freeBytes };
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

const num = (v: unknown, digits: number) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "-");
const sci = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v.toExponential(2) : "-");

// `object`: the generated metric interfaces have no index signature; a null (not finite) value is left out.
export function formatMetrics(metrics: object): string {
  return Object.entries(metrics)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => `${k} ${(v as number).toFixed(4)}`)
    .join(", ");
}

/** Seconds per step measured from event times, ignoring start-up (first step event is the reference). */
class StepClock {
  private ref: { step: number; time: number } | null = null;
  secondsPerStep: number | null = null;
  observe(step: number, time: number): void {
    if (!Number.isFinite(time)) return;
    if (this.ref === null || step < this.ref.step) {
      this.ref = { step, time };
      return;
    }
    if (step > this.ref.step) this.secondsPerStep = (time - this.ref.time) / (step - this.ref.step);
  }
  eta(step: number, total: number): number | null {
    return this.secondsPerStep === null ? null : Math.max(0, total - step) * this.secondsPerStep;
  }
}

/** The step line's optional throughput parts: tokens/s, MFU (null off a GPU: the engine knows no peak there), padding. */
function throughputDetail(ev: StepEvent): string {
  const tokens = typeof ev.tokens_per_s === "number" ? ` | ${Math.round(ev.tokens_per_s)} tokens/s` : "";
  const mfu = typeof ev.mfu === "number" ? ` | MFU ${(100 * ev.mfu).toFixed(1)}%` : "";
  const padding = typeof ev.padding_fraction === "number" ? ` | padding ${(100 * ev.padding_fraction).toFixed(1)}%` : "";
  return `${tokens}${mfu}${padding}`;
}

export function createWatcher(params: WatchParams): Watcher {
  const stderr: OutStream = params.stderr ?? process.stderr;
  const tty = params.tty ?? stderr.isTTY === true;
  const disk = params.disk ?? defaultDisk;
  const state: WatchState = { start: null, lastStep: null, evals: [], checkpoints: [], errors: [], end: null };
  const clock = new StepClock();

  let multibar: cliProgress.MultiBar | null = null;
  let bar: cliProgress.SingleBar | null = null;

  function print(line: string): void {
    if (multibar) {
      multibar.log(line + "\n");
      multibar.update();
    } else {
      stderr.write(line + "\n");
    }
  }

  function ensureBar(total: number): void {
    if (!tty || bar) return;
    multibar = new cliProgress.MultiBar(
      {
        stream: stderr as unknown as NodeJS.WritableStream,
        format: "{bar} {value}/{total} | epoch {epoch} | loss {loss} | lr {lr} | {sps} samples/s | ETA {eta_h}",
        hideCursor: true,
        clearOnComplete: false,
        barsize: 24,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar = multibar.create(total, 0, { epoch: "-", loss: "-", lr: "-", sps: "-", eta_h: "?" });
  }

  function onStart(ev: StartEvent): void {
    state.start = ev;
    const resumed = ev.resumed_from_step ? `, resumed from step ${ev.resumed_from_step}` : "";
    print(
      `training: ${ev.total_steps} steps (${Number.isInteger(ev.epochs) ? ev.epochs : num(ev.epochs, 2)} epoch(s) x ${ev.steps_per_epoch}), ` +
        `${ev.num_train_samples} train / ${ev.num_val_samples} val samples, ` +
        `world size ${ev.world_size}, global batch ${ev.global_batch_size}${resumed}`,
    );
    ensureBar(ev.total_steps);
    if (bar && ev.resumed_from_step) bar.update(ev.resumed_from_step);
  }

  function onStep(ev: StepEvent): void {
    state.lastStep = ev;
    clock.observe(ev.step, ev.time);
    const total = ev.total_steps ?? state.start?.total_steps ?? 0;
    const eta = clock.eta(ev.step, total);
    const etaText = eta === null ? "?" : formatDuration(eta);
    ensureBar(total);
    if (bar) {
      if (bar.getTotal() !== total) bar.setTotal(total);
      bar.update(ev.step, {
        epoch: num(ev.epoch, 2),
        loss: num(ev.loss, 4),
        lr: sci(ev.lr),
        sps: num(ev.samples_per_s, 1),
        eta_h: etaText,
      });
      return;
    }
    const pct = total > 0 ? ` (${Math.floor((100 * ev.step) / total)}%)` : "";
    const mem = typeof ev.memory_bytes === "number" ? ` | ${ev.memory_kind ?? "mem"} ${formatBytes(ev.memory_bytes)}` : "";
    const elapsed = state.start && Number.isFinite(state.start.time) ? ` | elapsed ${formatDuration(ev.time - state.start.time)}` : "";
    stderr.write(
      `step ${ev.step}/${total}${pct} | epoch ${num(ev.epoch, 2)} | loss ${num(ev.loss, 4)} | lr ${sci(ev.lr)} | ` +
        `grad ${num(ev.grad_norm, 3)} | ${num(ev.samples_per_s, 1)} samples/s${throughputDetail(ev)}${mem}${elapsed} | ETA ${etaText}\n`,
    );
  }

  function onEval(ev: EvalEvent): void {
    state.evals.push(ev);
    const where = ev.checkpoint ? ` (${ev.checkpoint})` : "";
    print(`eval ${ev.split} @ step ${ev.step}: ${formatMetrics(ev.metrics ?? {})} on ${ev.num_samples} samples${where}`);
  }

  function onCheckpoint(ev: CheckpointEvent): void {
    state.checkpoints.push(ev);
    const tags = [ev.is_best ? "best" : "", ev.is_final ? "final" : ""].filter(Boolean);
    const tagText = tags.length ? ` [${tags.join(", ")}]` : "";
    let diskText = "";
    try {
      const d = disk(params.outputDir);
      diskText = ` | run uses ${formatBytes(d.runBytes)}, ${formatBytes(d.freeBytes)} free at ${params.outputDir}`;
      if (typeof ev.bytes === "number" && ev.bytes > 0 && d.freeBytes < ev.bytes) {
        diskText += ` — WARNING: less free space than one checkpoint (${formatBytes(ev.bytes)}); the next save may fail`;
      }
    } catch (e) {
      diskText = ` | disk usage unavailable (${e instanceof Error ? e.message : String(e)})`;
    }
    print(
      `checkpoint step ${ev.step}${tagText}: ${ev.path} (${formatBytes(ev.bytes ?? 0)} in ${num(ev.seconds, 1)}s)${diskText}`,
    );
  }

  function onError(ev: ErrorEvent): void {
    state.errors.push(ev);
    print(`engine error: ${ev.message}`);
    if (ev.hint) print(`hint: ${ev.hint}`);
  }

  function onEnd(ev: EndEvent): void {
    state.end = ev;
    if (bar) bar.update(ev.step ?? bar.getProgress() * bar.getTotal());
    print(`training ${ev.status} at step ${ev.step}`);
  }

  return {
    onEvent(event) {
      switch (event.event) {
        case "start":
          return onStart(event as StartEvent);
        case "step":
          return onStep(event as StepEvent);
        case "eval":
          return onEval(event as EvalEvent);
        case "checkpoint":
          return onCheckpoint(event as CheckpointEvent);
        case "error":
          return onError(event as ErrorEvent);
        case "end":
          return onEnd(event as EndEvent);
        default:
          return; // unknown event types are ignored (forward compatible)
      }
    },
    note: print,
    tty,
    get barActive() {
      return bar !== null;
    },
    state,
    stop() {
      if (multibar) multibar.stop();
      multibar = null;
      bar = null;
    },
  };
}
