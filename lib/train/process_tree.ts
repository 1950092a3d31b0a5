// Knows every process a launch created, so that none outlives the launcher.
// torchrun starts each worker in a NEW session (torch elastic's SubprocessHandler uses
// start_new_session=True), so killing torchrun's process group alone would orphan the workers:
// we track descendants through /proc (pid + start time, so a reused pid is never hit).
import { readdirSync, readFileSync } from "node:fs";

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  start: number;
}

export function readProc(pid: number, opts: { includeZombie?: boolean } = {}): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] = state (field 3): ppid = field 4, pgrp = field 5, starttime = field 22
    if (!opts.includeZombie && (fields[0] === "Z" || fields[0] === "X")) return null; // zombie: already dead
    return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), start: Number(fields[19]) };
  } catch {
    return null;
  }
}

function allProcs(): ProcInfo[] {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: ProcInfo[] = [];
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const p = readProc(Number(n));
    if (p) out.push(p);
  }
  return out;
}

/** Live descendants of rootPid (not including it). */
export function descendants(rootPid: number): ProcInfo[] {
  const procs = allProcs();
  const children = new Map<number, ProcInfo[]>();
  for (const p of procs) {
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const out: ProcInfo[] = [];
  const queue = [rootPid];
  const seen = new Set<number>([rootPid]);
  while (queue.length) {
    const pid = queue.shift()!;
    for (const c of children.get(pid) ?? []) {
      if (seen.has(c.pid)) continue;
      seen.add(c.pid);
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

export type KillFn = (pid: number, signal: NodeJS.Signals) => void;

/** Tracks a detached child (its own process group) and everything it starts. */
export class ProcessTree {
  private known = new Map<number, ProcInfo>();
  private readonly rootStart: number | null;

  constructor(
    readonly rootPid: number,
    private readonly kill: KillFn = (pid, sig) => process.kill(pid, sig),
  ) {
    this.rootStart = readProc(rootPid, { includeZombie: true })?.start ?? null;
  }

  /** Records the current descendants (call periodically while the child runs). */
  snapshot(): void {
    for (const p of descendants(this.rootPid)) this.known.set(p.pid, p);
  }

  /** Tracked processes that are still the same live process. */
  alive(): ProcInfo[] {
    const out: ProcInfo[] = [];
    for (const p of this.known.values()) {
      const now = readProc(p.pid);
      if (now && now.start === p.start) out.push(now);
    }
    return out;
  }

  /**
   * SIGKILLs the root's process group, every tracked descendant, and the process group of every
   * tracked descendant that leads one (workers and their DataLoader children). Synchronous, so it
   * also works from a process 'exit' handler.
   */
  killAll(signal: NodeJS.Signals = "SIGKILL"): number {
    this.snapshot();
    const targets = this.alive();
    let sent = 0;
    const send = (pid: number) => {
      try {
        this.kill(pid, signal);
        sent++;
      } catch {
        // ESRCH: already gone
      }
    };
    // A zombie root (exited, not yet reaped) still owns its group id: members can be signalled.
    const root = readProc(this.rootPid, { includeZombie: true });
    if (root && (this.rootStart === null || root.start === this.rootStart)) send(-this.rootPid);
    for (const p of targets) {
      if (p.pgid === p.pid) send(-p.pid); // a session/group leader: its whole group
      send(p.pid);
    }
    return sent;
  }
}
