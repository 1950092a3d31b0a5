import { describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { createLogProgress, createPushProgress } from "./progress.ts";

function fakeStream(isTTY: boolean) {
  let text = "";
  const s = new Writable({ write(chunk, _enc, cb) { text += chunk.toString(); cb(); } }) as Writable & { isTTY?: boolean; columns?: number };
  s.isTTY = isTTY;
  s.columns = 120;
  return { stream: s, text: () => text };
}

describe("push progress", () => {
  test("plain lines when not a terminal: per large file (sent / already on the Hub), retries, summary", () => {
    const lines: string[] = [];
    const p = createPushProgress({ tty: false, log: (l) => void lines.push(l) });
    p.startTarget("checkpoint-10 -> me/m@main", [{ path: "model.safetensors", size: 4096 }, { path: "other.safetensors", size: 2048 }, { path: "config.json", size: 10 }], 2);
    p.phase("uploadingLargeFiles");
    p.file("model.safetensors", "hashing", 0.5);
    p.file("model.safetensors", "uploading", 0);
    p.file("model.safetensors", "uploading", 1);
    p.file("other.safetensors", "uploading", 1); // no 0 first: the Hub had it
    p.retry({ attempt: 1, retriesLeft: 4, delayMs: 500, method: "PUT", url: "http://hub/x", reason: "HTTP 500" });
    p.endTarget("[push] checkpoint-10 -> me/m@main: committed 3 file(s)", true);
    expect(lines).toEqual([
      "[push] checkpoint-10 -> me/m@main: 3 file(s) to send, 6.0 KiB; 2 unchanged",
      "[push] checkpoint-10 -> me/m@main: hashing and sending large files",
      "[push] checkpoint-10 -> me/m@main: model.safetensors sent (4.0 KiB) [1/3 files]",
      "[push] checkpoint-10 -> me/m@main: other.safetensors already on the Hub (2.0 KiB) [2/3 files]",
      "[push] checkpoint-10 -> me/m@main: PUT http://hub/x failed (HTTP 500); retry 1 in 0.5 s (4 left)",
      "[push] checkpoint-10 -> me/m@main: committed 3 file(s)",
    ]);
  });

  test("bars on a terminal: a total bar and one per file, drawn on the stream", () => {
    const { stream, text } = fakeStream(true);
    const p = createPushProgress({ stream });
    p.startTarget("checkpoint-10 -> me/m@main", [{ path: "model.safetensors", size: 4096 }, { path: "config.json", size: 10 }], 0);
    p.file("model.safetensors", "uploading", 0);
    p.file("model.safetensors", "uploading", 1);
    p.endTarget("[push] done", true);
    p.stop();
    const out = text();
    expect(out).toContain("[push] checkpoint-10 -> me/m@main: 2 file(s) to send");
    expect(out).toContain("checkpoint-10 -> main");
    expect(out).toContain("model.safetensors");
    expect(out).toContain("[################]");
    expect(out).toContain("[push] done");
  });

  test("background log: only target lines, retries and notes", () => {
    const lines: string[] = [];
    const p = createLogProgress((l) => void lines.push(l));
    p.startTarget("checkpoint-10 -> me/m@main", [{ path: "model.safetensors", size: 1024 }], 3);
    p.file("model.safetensors", "uploading", 1);
    p.endTarget("[push] checkpoint-10 -> me/m@main: committed", true);
    expect(lines).toEqual(["[hub] checkpoint-10 -> me/m@main: sending 1 file(s), 1.0 KiB (3 unchanged)", "[hub] checkpoint-10 -> me/m@main: committed"]);
  });
});
