import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ALL_ENV_NAMES, TEST_ONLY_ENV, USER_ENV } from "./test_env.ts";

const ROOT = join(import.meta.dir, "..", "..");
const SCANNED = ["engine", "lib", "tasks", "scripts", "test", "bench", "schema", "generated", "docs", "README.md"];
const SKIP_DIRS = new Set(["node_modules", ".venv", "__pycache__", ".pytest_cache"]);
const EXTENSIONS = /\.(ts|py|sh|md|json|yaml|yml)$/;

function files(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    return [];
  }
  if (st.isFile()) return EXTENSIONS.test(path) ? [path] : [];
  return readdirSync(path)
    .filter((n) => !SKIP_DIRS.has(n))
    .flatMap((n) => files(join(path, n)));
}

/** name -> files that mention it */
function qcNamesInCode(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const f of SCANNED.flatMap((p) => files(join(ROOT, p)))) {
    for (const m of readFileSync(f, "utf8").matchAll(/\bQC_[A-Z0-9_]+/g)) {
      const list = found.get(m[0]) ?? [];
      if (!list.includes(relative(ROOT, f))) list.push(relative(ROOT, f));
      found.set(m[0], list);
    }
  }
  return found;
}

describe("QC_* environment variables", () => {
  test("every QC_ name in the code is listed in lib/util/test_env.ts (user-facing or test-only)", () => {
    const found = qcNamesInCode();
    expect(found.size).toBeGreaterThanOrEqual(ALL_ENV_NAMES.size); // the scan really reads the code
    const unlisted = [...found].filter(([name]) => !ALL_ENV_NAMES.has(name)).map(([name, where]) => `${name} (${where.join(", ")})`);
    expect(unlisted).toEqual([]);
    const unused = [...ALL_ENV_NAMES].filter((name) => !found.has(name));
    expect(unused).toEqual([]);
  });
  test("no name is both user-facing and test-only, and docs/architecture.md names each in its own group", () => {
    const user = new Set(USER_ENV.map((v) => v.name));
    expect(TEST_ONLY_ENV.filter((v) => user.has(v.name))).toEqual([]);
    const doc = readFileSync(join(ROOT, "docs", "architecture.md"), "utf8");
    const start = doc.indexOf("### Environment variables");
    expect(start).toBeGreaterThan(0);
    const end = doc.indexOf("\n## ", start);
    const section = doc.slice(start, end < 0 ? undefined : end);
    const split = section.indexOf("Test-only");
    expect(split).toBeGreaterThan(0);
    const named = (text: string, name: string) => new RegExp("`" + name + "[`=]").test(text);
    for (const v of USER_ENV) expect(named(section.slice(0, split), v.name), v.name).toBe(true);
    for (const v of TEST_ONLY_ENV) expect(named(section.slice(split), v.name), v.name).toBe(true);
  });
});
