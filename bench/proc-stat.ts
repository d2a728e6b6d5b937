// Per-process resource readings from Linux /proc, for processes the bench
// started (chatd, its rooms, the baseline servers, the member workers).
// Linux only.
import { readFileSync } from 'node:fs';

/** USER_HZ: the unit of utime/stime in /proc/PID/stat (100 on every Linux the bench targets). */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) the process has used so far, or NaN if it is gone. */
export function cpuSeconds(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return NaN;
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields
  // after the last ')' start at field 3 (state), so utime (14) is index 11.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS;
}

/**
 * Seconds the process has spent runnable but waiting for a CPU (field 2 of
 * /proc/PID/schedstat): how much it was held back by other processes.
 */
export function runQueueWaitSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

/** CPU seconds the whole host spent busy (all cores, everything but idle and iowait) since boot. */
export function hostBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - f[3]! - f[4]!) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

function statusField(pid: number, file: string, field: string): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return NaN;
  }
  const line = text.split('\n').find((l) => l.startsWith(`${field}:`));
  return line === undefined ? NaN : Number(line.slice(field.length + 1).trim().split(/\s+/)[0]) * 1024;
}

/** Resident set size in bytes (VmRSS), or NaN if the process is gone. */
export function rssBytes(pid: number): number {
  return statusField(pid, 'status', 'VmRSS');
}

/** Peak resident set size in bytes (VmHWM), or NaN if the process is gone. */
export function peakRssBytes(pid: number): number {
  return statusField(pid, 'status', 'VmHWM');
}

/** Proportional set size in bytes (shared pages split among the processes mapping them), or NaN. */
export function pssBytes(pid: number): number {
  return statusField(pid, 'smaps_rollup', 'Pss');
}

/** Pages only this process has written (Private_Dirty): what one more such process really costs, or NaN. */
export function privateDirtyBytes(pid: number): number {
  return statusField(pid, 'smaps_rollup', 'Private_Dirty');
}

/** The host's UDP counters (this network namespace): datagrams dropped for a full receive or send buffer. */
export function udpDrops(): { rcvbuf: number; sndbuf: number } {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    const get = (n: string) => Number(values[names.indexOf(n)]);
    return { rcvbuf: get('RcvbufErrors'), sndbuf: get('SndbufErrors') };
  } catch {
    return { rcvbuf: NaN, sndbuf: NaN };
  }
}

/** CPU seconds used by this process so far. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
