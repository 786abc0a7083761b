// Shared by the bench scripts: free ports and child processes that are all stopped at the end.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

export function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const children = new Set();

/** Spawns a process (stdout ignored, stderr shown) that stopAll() will kill. */
export function start(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], ...options });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export function stopAll(signal = 'SIGTERM') {
  for (const child of children) child.kill(signal);
}

/** Resolves once something accepts connections on 127.0.0.1:port (10 s at most). */
export async function waitPort(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** CPU seconds (user + system) used so far by one process, all its threads included; 0 once it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": utime and stime are the 12th and 13th, in clock ticks (100/s).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The pids of a process's children (Linux /proc); none once it is gone. */
export function childPids(pid) {
  const pids = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (children) pids.push(...children.split(' ').map(Number));
    }
  } catch {
    // the process is gone
  }
  return pids;
}

/** Sets the CPUs a process, all its threads and all its descendants may run on (taskset, util-linux). */
export function pinTree(pid, cpus) {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  for (const child of childPids(pid)) pinTree(child, cpus);
}

/** CPU seconds used so far by a process and all its descendants (Linux /proc). */
export function treeCpuSeconds(pid) {
  let seconds = cpuSeconds(pid);
  for (const child of childPids(pid)) seconds += treeCpuSeconds(child);
  return seconds;
}

/**
 * The scheduler's account of a process and all its descendants, every thread included
 * (/proc/<pid>/task/<tid>/schedstat): nanoseconds on a CPU, and nanoseconds runnable but waiting
 * for one (woken and not yet running, or preempted). Zeros once the process is gone.
 */
export function treeSchedStat(pid) {
  let runNs = 0;
  let waitNs = 0;
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const [run, wait] = readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ');
      runNs += Number(run);
      waitNs += Number(wait);
    }
  } catch {
    // the process (or one of its threads) is gone
  }
  for (const child of childPids(pid)) {
    const sub = treeSchedStat(child);
    runNs += sub.runNs;
    waitNs += sub.waitNs;
  }
  return { runNs, waitNs };
}
