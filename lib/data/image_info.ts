import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { imageSize } from "image-size";

/** Why an image cannot be used; each kind is listed separately in the report. */
export type ImageProblemKind =
  | "image_missing"
  | "image_unreadable"
  | "not_an_image"
  | "unsupported_image_format"
  | "image_truncated"
  | "image_aspect_ratio" // set by lib/data/check.ts
  | "image_decode_failed"; // set by --deep

export interface ImageInfo {
  path: string;
  ok: boolean;
  problem?: { kind: ImageProblemKind; message: string };
  /** Format as image-size names it (png, jpg, gif, webp, bmp, tiff, ...). */
  type?: string;
  width?: number;
  height?: number;
  bytes?: number;
  /** sha256 of the file bytes (hex); present whenever the file could be read. */
  sha256?: string;
}

/** Formats Pillow (the engine's decoder) opens out of the box. */
const PIL_FORMATS = new Set(["png", "jpg", "gif", "webp", "bmp", "tiff", "ico", "cur", "pnm", "tga", "dds", "psd", "icns"]);

/** Readers injected in tests; the default reads the whole file (the content hash needs every byte). */
export interface ImageReader {
  readFile: (path: string) => Promise<Uint8Array>;
}

const defaultReader: ImageReader = { readFile: (p) => readFile(p) };

/**
 * Reads one image file once: sha256 of its bytes, format and dimensions from its header
 * (image-size), and cheap end-of-file checks that catch truncated PNG/JPEG/WebP/BMP files.
 * Full decoding is left to `--deep` (lib/data/deep.ts).
 */
export async function inspectImage(path: string, reader: ImageReader = defaultReader): Promise<ImageInfo> {
  let data: Uint8Array;
  try {
    data = await reader.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return fail(path, "image_missing", "image file not found");
    if (code === "EISDIR") return fail(path, "not_an_image", "is a directory, not an image file");
    return fail(path, "image_unreadable", `cannot read: ${(err as Error).message}`);
  }
  const sha256 = createHash("sha256").update(data).digest("hex");
  const base = { path, bytes: data.length, sha256 };
  if (data.length === 0) return { ...fail(path, "not_an_image", "empty file (0 bytes)"), ...base };
  let size;
  try {
    size = imageSize(data);
  } catch (err) {
    const why = (err as Error).message.replace(/^unsupported file type: undefined$/, "no known image signature");
    return { ...fail(path, "not_an_image", `not an image (${why})`), ...base };
  }
  const type = size.type ?? "unknown";
  const dims = { type, width: size.width, height: size.height };
  if (!PIL_FORMATS.has(type)) {
    return {
      ...fail(path, "unsupported_image_format", `format ${type} cannot be decoded by Pillow; convert it to PNG or JPEG`),
      ...base,
      ...dims,
    };
  }
  if (!(size.width > 0 && size.height > 0)) {
    return { ...fail(path, "not_an_image", `invalid dimensions ${size.width}x${size.height}`), ...base, ...dims };
  }
  const truncated = truncation(type, data);
  if (truncated) return { ...fail(path, "image_truncated", truncated), ...base, ...dims };
  return { ok: true, ...base, ...dims };
}

function fail(path: string, kind: ImageProblemKind, message: string): ImageInfo {
  return { path, ok: false, problem: { kind, message } };
}

const IEND = Buffer.from("IEND", "latin1");

/** A message when the file visibly ends early, else null. */
export function truncation(type: string, data: Uint8Array): string | null {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (type === "png") {
    return buf.lastIndexOf(IEND) === -1 ? "truncated PNG (no IEND chunk at the end)" : null;
  }
  if (type === "jpg") {
    // Entropy-coded data never holds FF D9 / FF DA unescaped: the last EOI must follow the last SOS.
    const lastSos = buf.lastIndexOf(Buffer.from([0xff, 0xda]));
    const lastEoi = buf.lastIndexOf(Buffer.from([0xff, 0xd9]));
    return lastSos === -1 || lastEoi < lastSos ? "truncated JPEG (no end-of-image marker after the image data)" : null;
  }
  if (type === "webp" && buf.length >= 8) {
    const riffSize = buf.readUInt32LE(4) + 8;
    return buf.length < riffSize ? `truncated WebP (${buf.length} of ${riffSize} bytes)` : null;
  }
  if (type === "bmp" && buf.length >= 6) {
    const fileSize = buf.readUInt32LE(2);
    return fileSize > 0 && buf.length < fileSize ? `truncated BMP (${buf.length} of ${fileSize} bytes)` : null;
  }
  return null;
}

/**
 * Inspects each distinct path once, `concurrency` files at a time; `onDone` after each file
 * (for progress). Returns a map path -> info.
 */
export async function inspectImages(params: {
  paths: Iterable<string>;
  concurrency?: number;
  reader?: ImageReader;
  onDone?: (done: number) => void;
}): Promise<Map<string, ImageInfo>> {
  const queue = [...params.paths];
  const out = new Map<string, ImageInfo>();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < queue.length) {
      const p = queue[next++];
      out.set(p, await inspectImage(p, params.reader));
      done++;
      params.onDone?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, params.concurrency ?? 16) }, worker));
  return out;
}
