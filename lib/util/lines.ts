// Streaming a text file line by line (JSONL data sets): low in the layers, the data checks and the disk preflight both count lines.
import { createReadStream, statSync } from "node:fs";

export interface LineProgress {
  /** Bytes consumed so far. */
  bytes: number;
  /** Size of the file in bytes. */
  totalBytes: number;
  lines: number;
}

/**
 * Streams a text file line by line without loading it whole: `onLine(text, lineNo)` for every
 * line (1-based, trailing "\r" and a leading UTF-8 BOM removed; a last line without "\n" counts).
 * `onProgress` is called once per chunk read (about 1 MiB).
 */
export async function forEachLine(params: {
  path: string;
  onLine: (text: string, lineNo: number) => void;
  onProgress?: (p: LineProgress) => void;
  chunkBytes?: number;
}): Promise<{ lines: number; bytes: number }> {
  const totalBytes = statSync(params.path).size;
  const stream = createReadStream(params.path, { highWaterMark: params.chunkBytes ?? 1 << 20 });
  let rest: Buffer | null = null;
  let lineNo = 0;
  let bytes = 0;
  const emit = (buf: Buffer, start: number, end: number) => {
    if (end > start && buf[end - 1] === 13) end--; // CRLF
    if (lineNo === 0 && end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3;
    lineNo++;
    params.onLine(buf.toString("utf8", start, end), lineNo);
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    const buf: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let i = buf.indexOf(10, start); i !== -1; i = buf.indexOf(10, start)) {
      emit(buf, start, i);
      start = i + 1;
    }
    rest = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    params.onProgress?.({ bytes, totalBytes, lines: lineNo });
  }
  if (rest && rest.length > 0) emit(rest, 0, rest.length);
  return { lines: lineNo, bytes };
}

/** Number of non-blank lines of a file (the samples of a JSONL), streamed. */
export async function countNonBlankLines(path: string): Promise<number> {
  let n = 0;
  await forEachLine({ path, onLine: (t) => void (t.trim() && n++) });
  return n;
}
