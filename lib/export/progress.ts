// Progress of an export from the engine's events: a cli-progress bar per phase on a terminal,
// plain throttled lines otherwise (CI logs, pipes: cli-progress prints nothing there).
import cliProgress from "cli-progress";
import { basename } from "node:path";
import { formatBytes } from "../util/fs.ts";
import type { ExportEvent } from "./export.ts";

export interface ExportProgress {
  onEvent(ev: ExportEvent, checkpoint: string): void;
  stop(): void;
}

const PHASES: Record<string, string> = { cast: "consolidate + cast", write: "write safetensors", verify: "verify logits" };

function amount(done: number, total: number, unit: string): string {
  return unit === "bytes" ? `${formatBytes(done)}/${formatBytes(total)}` : `${done}/${total} ${unit}`;
}

export function createExportProgress(params: {
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  isTTY?: boolean;
  now?: () => number;
  plainIntervalMs?: number;
} = {}): ExportProgress {
  const stream = params.stream ?? process.stderr;
  const isTTY = params.isTTY ?? Boolean(stream.isTTY);
  if (!isTTY) {
    const now = params.now ?? Date.now;
    const interval = params.plainIntervalMs ?? 2000;
    const last = new Map<string, number>();
    return {
      onEvent(ev, checkpoint) {
        const name = basename(checkpoint);
        if (ev.event === "line") stream.write(`[export] ${name}: ${ev.message}\n`);
        if (ev.event !== "progress") return;
        const key = `${checkpoint}:${ev.phase}`;
        const finished = ev.done >= ev.total;
        if (!finished && now() - (last.get(key) ?? -Infinity) < interval) return;
        last.set(key, now());
        const pct = ev.total ? Math.floor((100 * ev.done) / ev.total) : 100;
        stream.write(`[export] ${name}: ${PHASES[ev.phase] ?? ev.phase} ${amount(ev.done, ev.total, ev.unit)} (${pct}%)\n`);
      },
      stop() {},
    };
  }
  const multi = new cliProgress.MultiBar(
    { stream, clearOnComplete: false, hideCursor: true, format: "{label} [{bar}] {percentage}% {info}", barsize: 30 },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    onEvent(ev, checkpoint) {
      const name = basename(checkpoint);
      if (ev.event === "line") {
        multi.log(`${name}: ${ev.message}\n`);
        return;
      }
      if (ev.event !== "progress") return;
      const key = `${checkpoint}:${ev.phase}`;
      let bar = bars.get(key);
      const label = `${name} ${(PHASES[ev.phase] ?? ev.phase).padEnd(18)}`;
      if (!bar) {
        bar = multi.create(ev.total, 0, { label, info: "" });
        bars.set(key, bar);
      }
      bar.setTotal(ev.total);
      bar.update(ev.done, { label, info: amount(ev.done, ev.total, ev.unit) });
    },
    stop() {
      multi.stop();
    },
  };
}
