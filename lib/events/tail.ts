// Follow OUT/logs/events.jsonl while the engine writes it, or read a finished one.
// Polling (not fs.watch): works on every file system, including network mounts where a
// multi-node run may keep its output_dir. Partial last lines wait for their newline;
// a file that shrinks or is replaced is read again from the start.
import { open, readFile, stat } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { parseEventLine, type TrainEvent, type UnknownEvent } from "./types.ts";

export type AnyEvent = TrainEvent | UnknownEvent;

export interface BadLine {
  lineNo: number;
  line: string;
  error: string;
}

export interface TailParams {
  path: string;
  onEvent: (event: AnyEvent) => void | Promise<void>;
  /** A line that is not a JSON event object (reported, never fatal). */
  onBadLine?: (bad: BadLine) => void;
  /** An exception thrown by onEvent (reported, never fatal). */
  onError?: (error: unknown) => void;
  pollMs?: number;
  signal?: AbortSignal;
  /** Byte offset to start from (skip what an earlier run wrote); a shorter file restarts at 0. */
  startAt?: number;
}

export interface TailHandle {
  /** Reads what is left (including a last line without newline), then stops. */
  stop(): Promise<void>;
  /** Resolves once the tailer has stopped. */
  readonly done: Promise<void>;
  /** Events delivered so far. */
  readonly count: number;
}

const CHUNK = 1 << 16;

export function tailEvents(params: TailParams): TailHandle {
  const { path, onEvent, pollMs = 250, signal } = params;
  const onBadLine = params.onBadLine ?? (() => {});
  const onError = params.onError ?? (() => {});

  let offset = params.startAt ?? 0;
  let inode: number | bigint | null = null;
  let decoder = new StringDecoder("utf8");
  let pending = "";
  let lineNo = 0;
  let count = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let chain: Promise<void> = Promise.resolve();
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  async function deliver(line: string): Promise<void> {
    lineNo += 1;
    if (line.trim() === "") return;
    let event: AnyEvent;
    try {
      event = parseEventLine(line);
    } catch (e) {
      onBadLine({ lineNo, line, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    count += 1;
    try {
      await onEvent(event);
    } catch (e) {
      onError(e);
    }
  }

  function reset(): void {
    offset = 0;
    pending = "";
    lineNo = 0;
    decoder = new StringDecoder("utf8");
  }

  async function readNew(final: boolean): Promise<void> {
    let info;
    try {
      info = await stat(path);
    } catch {
      return; // not created yet (or removed): keep waiting
    }
    if ((inode !== null && info.ino !== inode) || info.size < offset) reset();
    inode = info.ino;
    if (info.size > offset) {
      const fh = await open(path, "r");
      try {
        const buf = Buffer.alloc(CHUNK);
        while (offset < info.size) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, info.size - offset), offset);
          if (bytesRead === 0) break;
          offset += bytesRead;
          pending += decoder.write(buf.subarray(0, bytesRead));
          let nl: number;
          while ((nl = pending.indexOf("\n")) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            await deliver(line);
          }
        }
      } finally {
        await fh.close();
      }
    }
    if (final && pending !== "") {
      const line = pending + decoder.end();
      pending = "";
      await deliver(line);
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      chain = chain.then(() => readNew(false)).catch(onError).then(schedule);
    }, pollMs);
  }

  async function stop(): Promise<void> {
    if (stopped) return done;
    stopped = true;
    if (timer) clearTimeout(timer);
    chain = chain.then(() => readNew(true)).catch(onError);
    await chain;
    resolveDone();
  }

  if (signal) {
    if (signal.aborted) void stop();
    else signal.addEventListener("abort", () => void stop(), { once: true });
  }
  chain = chain.then(() => readNew(false)).catch(onError).then(schedule);

  return {
    stop,
    done,
    get count() {
      return count;
    },
  };
}

/** Read every event of a finished events.jsonl (a torn last line is reported, not fatal). */
export async function readEvents(
  params: string | { path: string; onBadLine?: (bad: BadLine) => void },
): Promise<AnyEvent[]> {
  const { path, onBadLine } = typeof params === "string" ? { path: params, onBadLine: undefined } : params;
  const text = await readFile(path, "utf8");
  const events: AnyEvent[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      events.push(parseEventLine(line));
    } catch (e) {
      onBadLine?.({ lineNo: i + 1, line, error: e instanceof Error ? e.message : String(e) });
    }
  });
  return events;
}
