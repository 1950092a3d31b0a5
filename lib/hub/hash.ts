// Content hashes the Hub reports for files: sha256 (LFS oid) and the git blob sha1 (regular files).
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

export type FileContent = { kind: "file"; path: string } | { kind: "bytes"; data: Uint8Array };

async function feed(hash: ReturnType<typeof createHash>, content: FileContent): Promise<void> {
  if (content.kind === "bytes") {
    hash.update(content.data);
    return;
  }
  // Streamed so that multi-GB weights never sit in memory.
  for await (const chunk of createReadStream(content.path, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
  }
}

export async function sha256Of(content: FileContent): Promise<string> {
  const hash = createHash("sha256");
  await feed(hash, content);
  return hash.digest("hex");
}

/** git's object id of a blob: sha1("blob <size>\0" + content). */
export async function gitBlobSha1Of(content: FileContent, size: number): Promise<string> {
  const hash = createHash("sha1");
  hash.update(`blob ${size}\0`);
  await feed(hash, content);
  return hash.digest("hex");
}

export function lfsPointer(oid: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`;
}
