import { describe, expect, test } from "bun:test";
import { UserError } from "../util/errors.ts";
import { defaultTokenFile, redact, requireToken, resolveToken } from "./token.ts";

const files = (map: Record<string, string>) => (path: string) => (path in map ? map[path] : null);

describe("resolveToken", () => {
  test("--token-file (explicit) wins over HF_TOKEN, HF_TOKEN over the default file; whitespace trimmed", () => {
    const read = files({ "/t": "hf_fromfile123\n", "/home/u/.cache/huggingface/token": "hf_default123" });
    expect(resolveToken({ env: { HF_TOKEN: "hf_fromenv123456" }, tokenFile: "/t", homeDir: "/home/u", readFile: read })).toEqual({
      token: "hf_fromfile123",
      source: "--token-file /t",
    });
    expect(resolveToken({ env: { HF_TOKEN: " hf_fromenv123456 \n" }, homeDir: "/home/u", readFile: read })).toEqual({
      token: "hf_fromenv123456",
      source: "HF_TOKEN",
    });
    expect(resolveToken({ env: {}, homeDir: "/home/u", readFile: read })).toEqual({
      token: "hf_default123",
      source: "/home/u/.cache/huggingface/token",
    });
  });

  test("the usual token file: HF_HOME/token, default ~/.cache/huggingface/token", () => {
    expect(defaultTokenFile({}, "/home/u")).toBe("/home/u/.cache/huggingface/token");
    expect(defaultTokenFile({ HF_HOME: "/hf" }, "/home/u")).toBe("/hf/token");
    const t = resolveToken({ env: { HF_HOME: "/hf" }, homeDir: "/home/u", readFile: files({ "/hf/token": "hf_home12345\n" }) });
    expect(t?.token).toBe("hf_home12345");
    expect(resolveToken({ env: {}, homeDir: "/home/u", readFile: files({}) })).toBeNull();
  });

  test("a token not starting with hf_ is refused without echoing it", () => {
    let err: unknown;
    try {
      resolveToken({ env: { HF_TOKEN: "ghp_secretvalue999" } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain('does not start with "hf_"');
    expect((err as Error).message).toContain("HF_TOKEN");
    expect((err as Error).message).not.toContain("secretvalue");
  });

  test("a missing --token-file and a missing token are clear errors", () => {
    expect(() => resolveToken({ env: {}, tokenFile: "/nope", readFile: files({}) })).toThrow("--token-file /nope does not exist");
    expect(() => requireToken({ env: {}, homeDir: "/home/u", readFile: files({}) })).toThrow("no Hugging Face token found");
  });
});

describe("redact", () => {
  test("removes the token and anything that looks like one", () => {
    expect(redact("Bearer hf_abcdefgh12345 failed", "hf_abcdefgh12345")).toBe("Bearer hf_*** failed");
    expect(redact("other hf_zzzzzzzzzz1 here")).toBe("other hf_*** here");
    expect(redact("no secret", "hf_abcdefgh12345")).toBe("no secret");
  });
});
