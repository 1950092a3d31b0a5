import cliProgress from "cli-progress";
import { formatBytes } from "../util/fs.ts";

/** A progress display for one phase; `detail` is shown after the counts (e.g. "812,000 lines"). */
export interface Progress {
  update(value: number, detail?: string): void;
  stop(): void;
}

/** `unit: "bytes"` shows the counts as sizes (a file read through). */
export type ProgressFactory = (label: string, total: number, opts?: { unit?: "items" | "bytes" }) => Progress;

/** No output at all (tests, --json). */
export const silentProgress: ProgressFactory = () => ({ update() {}, stop() {} });

/**
 * A cli-progress bar on a TTY; otherwise plain lines ("label: 45% (450/1000) detail"), at most
 * one every `plainEverySeconds`, plus one at the end, so that CI logs still show progress.
 */
export function makeProgress(params: {
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  plainEverySeconds?: number;
  now?: () => number;
} = {}): ProgressFactory {
  const stream = params.stream ?? process.stderr;
  const now = params.now ?? (() => Date.now());
  const every = (params.plainEverySeconds ?? 5) * 1000;
  return (label, total, opts) => {
    const bytes = opts?.unit === "bytes";
    const show = (v: number) => (bytes ? formatBytes(v) : v.toLocaleString("en-US"));
    if ((stream as { isTTY?: boolean }).isTTY) {
      const bar = new cliProgress.SingleBar(
        {
          format: `${label.padEnd(14)} [{bar}] {percentage}% | {shown}{detail} | ETA {eta_formatted}`,
          stream: stream as NodeJS.WriteStream,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(Math.max(total, 1), 0, { detail: "", shown: `${show(0)}/${show(total)}` });
      return {
        update: (v, detail) => bar.update(v, { detail: detail ? ` | ${detail}` : "", shown: `${show(v)}/${show(total)}` }),
        stop: () => bar.stop(),
      };
    }
    let last = now();
    let lastValue = 0;
    let lastDetail = "";
    const line = (v: number, detail: string) => {
      const pct = total > 0 ? Math.floor((100 * v) / total) : 100;
      stream.write(`${label}: ${pct}% (${show(v)}/${show(total)})${detail ? ` ${detail}` : ""}\n`);
    };
    return {
      update: (v, detail) => {
        lastValue = v;
        lastDetail = detail ?? "";
        if (now() - last >= every) {
          last = now();
          line(v, lastDetail);
        }
      },
      stop: () => {
        if (total > 0) line(lastValue, lastDetail);
      },
    };
  };
}
