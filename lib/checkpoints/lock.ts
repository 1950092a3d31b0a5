// Lock files, one convention for the whole project (docs/architecture.md, "Locks"):
//   OUT/.train.lock                          one training per output_dir at a time (exclusive)
//   OUT/checkpoint-N/.in-use.<purpose>.<pid>  a process reads checkpoint-N (export, push, evaluate):
//                                            retention and prune leave that checkpoint alone
// Content, both kinds: {"pid", "host", "purpose", "started_at" (ISO), "command" [argv]}.
// A lock is stale when its host is this host and its pid is no longer alive; a lock from another
// host is always treated as live (its pid cannot be checked from here).
import { linkSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";

export const RUN_LOCK_NAME = ".train.lock";
/** checkpoint-N/.in-use.<purpose>.<pid> (purpose: [a-z_]+) */
export const CHECKPOINT_LOCK_RE = /^\.in-use\.([a-z_]+)\.(\d+)$/;

export interface LockInfo {
  pid: number;
  host: string;
  purpose: string;
  started_at: string;
  command: string[];
}

/** What every lock function can have injected (tests: a fake clock, host and liveness). */
export interface LockDeps {
  pid?: number;
  host?: string;
  /** ms since the epoch */
  now?: () => number;
  command?: string[];
  isAlive?: (pid: number) => boolean;
}

/** kill(pid, 0): ESRCH means gone; EPERM means alive but someone else's. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function lockInfo(purpose: string, deps: LockDeps): LockInfo {
  return {
    pid: deps.pid ?? process.pid,
    host: deps.host ?? hostname(),
    purpose,
    started_at: new Date((deps.now ?? Date.now)()).toISOString(),
    command: deps.command ?? process.argv,
  };
}

export function readLock(path: string): LockInfo | null {
  try {
    const j = JSON.parse(readFileSync(path, "utf8"));
    if (!j || typeof j !== "object" || !Number.isInteger(j.pid) || typeof j.host !== "string") return null;
    return { pid: j.pid, host: j.host, purpose: String(j.purpose ?? ""), started_at: String(j.started_at ?? "?"), command: Array.isArray(j.command) ? j.command.map(String) : [] };
  } catch {
    return null;
  }
}

/** Stale: written on this host by a process that is gone. */
export function isStale(lock: LockInfo, deps: Pick<LockDeps, "host" | "isAlive"> = {}): boolean {
  return lock.host === (deps.host ?? hostname()) && !(deps.isAlive ?? pidAlive)(lock.pid);
}

export function describeLock(lock: LockInfo): string {
  const cmd = lock.command.join(" ");
  return `pid ${lock.pid} on ${lock.host}, started ${lock.started_at}${cmd ? `, command: ${cmd.length > 200 ? cmd.slice(0, 200) + "…" : cmd}` : ""}`;
}

/** Creates `path` with `content` only if it does not exist: written whole beside it, then hard-linked (atomic, no torn reads). */
function createExclusive(path: string, content: string, pid: number): boolean {
  const tmp = `${path}.${pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, content);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One training per output_dir
// ---------------------------------------------------------------------------------------------

export interface RunLockParams extends LockDeps {
  outputDir: string;
  /** The lock's file name in outputDir (default .train.lock; several nodes: one per node, lib/train/nodes.ts). */
  name?: string;
  /** Told when a stale lock is taken over. */
  log?: (line: string) => void;
}

/**
 * Takes OUT/.train.lock for this process, or throws a UserError (exit 2) naming the training that
 * holds it. A stale lock (its process is gone) is taken over with a message. Returns release(),
 * which removes the lock only while it is still this one (idempotent).
 */
export function acquireRunLock(params: RunLockParams): () => void {
  const path = join(params.outputDir, params.name ?? RUN_LOCK_NAME);
  const mine = lockInfo("train", params);
  const content = JSON.stringify(mine) + "\n";
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(path, content, mine.pid)) return releaser(path, mine);
    const holder = readLock(path);
    if (holder && !isStale(holder, params)) {
      throw new UserError(`another training is using ${params.outputDir} (${describeLock(holder)})`, {
        exitCode: 2,
        hint:
          `wait for it to finish or stop it, or choose another training.output_dir (--set training.output_dir=...)` +
          (holder.host !== mine.host ? `; it runs on another host: if you are sure it is gone, delete ${path}` : ""),
      });
    }
    // Stale (or unreadable): move it aside, then check that what moved is what we judged, so
    // that two launchers taking over at once cannot remove each other's fresh lock.
    const aside = `${path}.stale.${mine.pid}`;
    try {
      renameSync(path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue; // released meanwhile: try again
      throw e;
    }
    const moved = readLock(aside);
    if (moved && !isStale(moved, params)) {
      // Someone else's fresh lock: put it back (unless yet another took the place) and look again.
      try {
        linkSync(aside, path);
      } catch {
        // the place is taken again: the next round reads it
      }
      unlinkSync(aside);
      continue;
    }
    unlinkSync(aside);
    params.log?.(
      holder
        ? `taking over a stale lock ${path}: its training (${describeLock(holder)}) is no longer running`
        : `replacing an unreadable lock file ${path}`,
    );
  }
  throw new UserError(`could not take the lock ${path} (it keeps changing: another launcher is starting in ${params.outputDir})`, { exitCode: 2 });
}

function releaser(path: string, mine: LockInfo): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const now = readLock(path);
    if (now && now.pid === mine.pid && now.started_at === mine.started_at && now.host === mine.host) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Checkpoints in use (export, push, evaluate): shared, one file per process and purpose
// ---------------------------------------------------------------------------------------------

const held = new Map<string, number>(); // lock path -> holders in this process (refcount)

export interface CheckpointLockParams extends LockDeps {
  checkpoint: string;
  /** what reads the checkpoint: export | push | evaluate | ... ([a-z_]+) */
  purpose: string;
}

/**
 * Marks checkpoint-N as in use by this process: retention and prune do not delete or slim it
 * until release() (or until this process is gone: the lock is then stale). Several processes may
 * hold it at once; in one process it is counted, so nested holders share one file.
 */
export function lockCheckpoint(params: CheckpointLockParams): () => void {
  if (!/^[a-z_]+$/.test(params.purpose)) throw new Error(`lock purpose must match [a-z_]+: ${params.purpose}`);
  const info = lockInfo(params.purpose, params);
  const path = join(params.checkpoint, `.in-use.${params.purpose}.${info.pid}`);
  const count = held.get(path) ?? 0;
  if (count === 0) writeFileSync(path, JSON.stringify(info) + "\n");
  held.set(path, count + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (held.get(path) ?? 1) - 1;
    if (left > 0) {
      held.set(path, left);
      return;
    }
    held.delete(path);
    try {
      unlinkSync(path);
    } catch {
      // the checkpoint or the file is gone already
    }
  };
}

export interface CheckpointUsers {
  /** Processes that hold the checkpoint now. */
  live: LockInfo[];
  /** Lock files of processes that are gone (safe to remove). */
  stale: string[];
}

/** Who is using a checkpoint, from its .in-use.* files. */
export function checkpointUsers(params: { checkpoint: string } & Pick<LockDeps, "host" | "isAlive">): CheckpointUsers {
  const out: CheckpointUsers = { live: [], stale: [] };
  let names: string[];
  try {
    names = readdirSync(params.checkpoint);
  } catch {
    return out;
  }
  for (const name of names) {
    const m = CHECKPOINT_LOCK_RE.exec(name);
    if (!m) continue;
    const path = join(params.checkpoint, name);
    // An unreadable file still names its pid and purpose: judged from the name.
    const lock = readLock(path) ?? { pid: Number(m[2]), host: params.host ?? hostname(), purpose: m[1], started_at: "?", command: [] };
    if (isStale(lock, params)) out.stale.push(path);
    else out.live.push(lock);
  }
  return out;
}
