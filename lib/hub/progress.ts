// Push progress: a bar per file and one over the whole push on a terminal (cli-progress), plain
// lines otherwise (CI logs, background pushes). Under Bun an upload's progress jumps 0 -> 1, so the
// per-file bars show hashing progress, then "sending", then done.
import cliProgress from "cli-progress";
import { formatBytes } from "../util/fs.ts";
import type { RetryEvent } from "./retry.ts";

export interface ProgressFile {
  path: string;
  size: number;
}

export type FileOutcome = "sent" | "already on the Hub" | "unchanged";

export interface PushProgress {
  /** A target (checkpoint -> branch) begins; `files` are the ones to send (unchanged ones excluded). */
  startTarget(label: string, files: ProgressFile[], unchanged: number): void;
  phase(phase: "preuploading" | "uploadingLargeFiles" | "committing"): void;
  file(path: string, state: "hashing" | "uploading" | "error", progress: number): void;
  retry(event: RetryEvent): void;
  /** The target ended (ok: its commit landed); `line` is its one-line summary. */
  endTarget(line: string, ok: boolean): void;
  /** Free-form information (printed above the bars on a terminal). */
  note(line: string): void;
  stop(): void;
}

interface FileState {
  size: number;
  hashed: number;
  uploaded: number;
  firstUpload: number | null;
  done: boolean;
  bar?: cliProgress.SingleBar;
}

export interface PushProgressParams {
  /** Where bars / lines go (default process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Force bars (true) or plain lines (false); default: stream.isTTY. */
  tty?: boolean;
  /** Plain lines go here instead of the stream (e.g. the launcher's log). */
  log?: (line: string) => void;
}

/** Which files were really sent vs. found on the Hub already (the LFS batch had no upload action). */
export function outcomeOf(state: { firstUpload: number | null }): FileOutcome {
  return state.firstUpload === 1 ? "already on the Hub" : "sent";
}

function bar(progress: number): string {
  const width = 16;
  const done = Math.max(0, Math.min(width, Math.round((progress || 0) * width)));
  return `[${"#".repeat(done)}${".".repeat(width - done)}]`;
}

export function createPushProgress(params: PushProgressParams = {}): PushProgress {
  const stream = params.stream ?? process.stderr;
  const tty = params.tty ?? Boolean((stream as { isTTY?: boolean }).isTTY);
  const plain = params.log ?? ((line: string) => void stream.write(line + "\n"));
  let files = new Map<string, FileState>();
  let label = "";
  let multi: cliProgress.MultiBar | null = null;
  let total: cliProgress.SingleBar | null = null;
  let totalBytes = 0;
  let doneFiles = 0;

  const sentBytes = () => [...files.values()].reduce((s, f) => s + f.size * f.uploaded, 0);

  const say = (line: string) => {
    if (multi) multi.log(line + "\n");
    else plain(line);
  };

  /** Stops the bars; lines logged above them are flushed first (cli-progress drops them on stop). */
  function closeBars() {
    if (!multi) return;
    multi.update();
    multi.stop();
    multi = null;
    total = null;
  }

  function refreshTotal() {
    total?.update(Math.round(sentBytes()), { done: doneFiles, count: files.size });
  }

  function finishFile(path: string, f: FileState, quiet = false) {
    if (f.done) return;
    f.done = true;
    f.uploaded = 1;
    doneFiles++;
    const outcome = outcomeOf(f);
    if (f.bar) f.bar.update(1000, { state: outcome === "sent" ? "sent" : "on Hub" });
    if (!tty && !quiet) plain(`[push] ${label}: ${path} ${outcome} (${formatBytes(f.size)}) [${doneFiles}/${files.size} files]`);
    refreshTotal();
  }

  return {
    startTarget(l, list, unchanged) {
      label = l;
      files = new Map(list.map((f) => [f.path, { size: f.size, hashed: 0, uploaded: 0, firstUpload: null, done: false }]));
      totalBytes = list.reduce((s, f) => s + f.size, 0);
      doneFiles = 0;
      const head = `[push] ${l}: ${list.length} file(s) to send, ${formatBytes(totalBytes)}${unchanged ? `; ${unchanged} unchanged` : ""}`;
      if (!tty) {
        plain(head);
        return;
      }
      closeBars();
      stream.write(head + "\n");
      multi = new cliProgress.MultiBar(
        {
          stream,
          hideCursor: true,
          clearOnComplete: false,
          format: (_opts, p, payload) => {
            if (payload.kind === "total") {
              return `${payload.label.padEnd(30).slice(0, 30)} ${bar(p.progress)} ${payload.done}/${payload.count} files, ${formatBytes(p.value)}`;
            }
            return `  ${payload.path.padEnd(28).slice(0, 28)} ${bar(p.progress)} ${payload.state} ${formatBytes(payload.size)}`;
          },
        },
        cliProgress.Presets.shades_classic,
      );
      const short = l.replace(/ -> [^@ ]+@/, " -> "); // the repo is in the line above
      total = multi.create(Math.max(1, totalBytes), 0, { kind: "total", label: short, done: 0, count: list.length });
      for (const [path, f] of files) f.bar = multi.create(1000, 0, { kind: "file", path, size: f.size, state: "waiting" });
    },
    phase(phase) {
      if (!tty) plain(`[push] ${label}: ${phase === "preuploading" ? "checking files with the Hub" : phase === "uploadingLargeFiles" ? "hashing and sending large files" : "committing"}`);
      if (phase === "committing") {
        // Regular files travel inside the commit request: they are done when it is.
        for (const f of files.values()) f.bar?.update(f.bar.getProgress() * 1000, { state: f.done ? "sent" : "committing" });
      }
    },
    file(path, state, progress) {
      const f = files.get(path);
      if (!f) return;
      if (state === "hashing") {
        f.hashed = progress;
        f.bar?.update(Math.round(progress * 1000), { state: "hashing" });
        return;
      }
      if (state === "error") {
        f.bar?.update(0, { state: "error" });
        if (!tty) plain(`[push] ${label}: ${path} failed`);
        return;
      }
      if (f.firstUpload === null) f.firstUpload = progress;
      f.uploaded = progress;
      if (progress >= 1) finishFile(path, f);
      else {
        f.bar?.update(Math.round(progress * 1000), { state: "sending" });
        refreshTotal();
      }
    },
    retry(e) {
      say(`[push] ${label}: ${e.method} ${e.url} failed (${e.reason}); retry ${e.attempt} in ${(e.delayMs / 1000).toFixed(1)} s (${e.retriesLeft} left)`);
    },
    endTarget(line, ok) {
      // Small files travel inside the commit: the summary line covers them.
      if (ok) for (const [path, f] of files) if (!f.done) finishFile(path, f, true);
      if (multi) {
        closeBars();
        stream.write(line + "\n");
      } else plain(line);
    },
    note(line) {
      say(line);
    },
    stop() {
      closeBars();
    },
  };
}

/** A progress sink that shows nothing (tests, or when the caller prints its own report). */
export const silentProgress: PushProgress = {
  startTarget() {},
  phase() {},
  file() {},
  retry() {},
  endTarget() {},
  note() {},
  stop() {},
};

/** Quiet lines for background pushes during training: target start/end, retries and notes only. */
export function createLogProgress(log: (line: string) => void): PushProgress {
  let label = "";
  return {
    startTarget(l, files, unchanged) {
      label = l;
      const bytes = files.reduce((s, f) => s + f.size, 0);
      log(`[hub] ${l}: sending ${files.length} file(s), ${formatBytes(bytes)}${unchanged ? ` (${unchanged} unchanged)` : ""}`);
    },
    phase() {},
    file() {},
    retry(e) {
      log(`[hub] ${label}: ${e.method} ${e.url} failed (${e.reason}); retry ${e.attempt} in ${(e.delayMs / 1000).toFixed(1)} s`);
    },
    endTarget(line) {
      log(line.replace(/^\[push\]/, "[hub]"));
    },
    note(line) {
      log(line.replace(/^\[push\]/, "[hub]"));
    },
    stop() {},
  };
}
