// Hugging Face access token: where it comes from, and keeping it out of every output.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";

export interface ResolvedToken {
  token: string;
  /** Where it was found, safe to print ("HF_TOKEN", "--token-file /path", "/home/me/.cache/huggingface/token"). */
  source: string;
}

export interface ResolveTokenParams {
  /** Environment to read HF_TOKEN / HF_HOME from (default process.env). */
  env?: Record<string, string | undefined>;
  /** --token-file: asked for explicitly, so it wins over HF_TOKEN and the default file. */
  tokenFile?: string | null;
  /** Home folder for the default ~/.cache/huggingface/token (default os.homedir()). */
  homeDir?: string;
  /** Injectable reader (default fs.readFileSync utf8); returns null when the file does not exist. */
  readFile?: (path: string) => string | null;
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new UserError(`cannot read the token file ${path}: ${(err as Error).message}`, {
      hint: "check its permissions, or set HF_TOKEN instead",
    });
  }
}

/** The usual token file of huggingface_hub: $HF_HOME/token, default ~/.cache/huggingface/token. */
export function defaultTokenFile(env: Record<string, string | undefined>, homeDir: string): string {
  if (env.HF_TOKEN_PATH) return env.HF_TOKEN_PATH;
  const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homeDir, ".cache"), "huggingface");
  return join(hfHome, "token");
}

function checkFormat(token: string, source: string): string {
  if (!token.startsWith("hf_")) {
    // Never echo the value, not even a prefix.
    throw new UserError(`the Hugging Face token from ${source} does not start with "hf_"`, {
      hint: "create an access token with write permission at https://huggingface.co/settings/tokens",
    });
  }
  if (/\s/.test(token)) {
    throw new UserError(`the Hugging Face token from ${source} contains whitespace`, {
      hint: "the token file must hold the token alone on one line",
    });
  }
  return token;
}

/**
 * Token from --token-file, else HF_TOKEN, else the usual token file. Returns null when none is set
 * (the caller decides whether that is an error); throws UserError on a malformed token.
 */
export function resolveToken(params: ResolveTokenParams = {}): ResolvedToken | null {
  const env = params.env ?? process.env;
  const read = params.readFile ?? readIfExists;
  if (params.tokenFile) {
    const text = read(params.tokenFile);
    if (text === null) {
      throw new UserError(`--token-file ${params.tokenFile} does not exist`, {
        hint: "pass the path of a file that holds your hf_... token, or set HF_TOKEN",
      });
    }
    const token = text.trim();
    if (!token) throw new UserError(`--token-file ${params.tokenFile} is empty`, { hint: "put your hf_... token in it" });
    return { token: checkFormat(token, `--token-file ${params.tokenFile}`), source: `--token-file ${params.tokenFile}` };
  }
  const fromEnv = env.HF_TOKEN?.trim();
  if (fromEnv) return { token: checkFormat(fromEnv, "HF_TOKEN"), source: "HF_TOKEN" };
  const path = defaultTokenFile(env, params.homeDir ?? homedir());
  const text = read(path);
  const token = text?.trim();
  if (!token) return null;
  return { token: checkFormat(token, path), source: path };
}

/** Like resolveToken, but a missing token is a UserError that says how to provide one. */
export function requireToken(params: ResolveTokenParams = {}): ResolvedToken {
  const found = resolveToken(params);
  if (found) return found;
  const path = defaultTokenFile(params.env ?? process.env, params.homeDir ?? homedir());
  throw new UserError("no Hugging Face token found", {
    hint: `set HF_TOKEN, pass --token-file FILE, or run \`huggingface-cli login\` (writes ${path})`,
  });
}

/** Replace every occurrence of the token (and of any hf_... string) in a text to be printed. */
export function redact(text: string, token?: string | null): string {
  let out = text;
  if (token) out = out.split(token).join("hf_***");
  return out.replace(/hf_[A-Za-z0-9]{6,}/g, "hf_***");
}
