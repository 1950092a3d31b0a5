// Shared by the evaluate tests (lib/evaluate/*.test.ts, test/cli_evaluate.test.ts).
import { expect } from "bun:test";
import { readFileSync } from "node:fs";

/** A PNG starts with its 8-byte signature, then an IHDR chunk (length 13) with width and height. */
export function checkPng(path: string): { width: number; height: number } {
  const b = readFileSync(path);
  expect([...b.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(b.readUInt32BE(8)).toBe(13);
  expect(b.subarray(12, 16).toString("ascii")).toBe("IHDR");
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

