/**
 * Who owns a spool: the lock file names its process by pid, the process's start time and the boot it runs
 * in, so that the lock of a daemon that died (kill -9, a crash, a power cut) is known stale even when its pid
 * now belongs to another process (pids are reused, after a reboot soonest) or it has exited but not been
 * reaped yet (a zombie). A pid alone would keep the next mount out until that other process ended.
 */
import { readFileSync } from 'node:fs'

/** Identifies this boot of the machine (Linux). */
export function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return 'unknown'
  }
}

interface ProcStat {
  state: string
  /** Clock ticks after boot when the process started (field 22 of /proc/PID/stat). */
  startTicks: string
}

function procStat(pid: number): ProcStat | undefined | 'no-proc' {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === 'ENOENT' || code === 'ESRCH' ? undefined : 'no-proc'
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields count from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return { state: fields[0] ?? '', startTicks: fields[19] ?? '' }
}

function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' // exists, owned by someone else
  }
}

/** The lock file's text for process `pid` (this process unless told). */
export function ownerLine(pid = process.pid): string {
  const stat = procStat(pid)
  const start = stat && stat !== 'no-proc' ? stat.startTicks : '-'
  return `${pid} ${start} ${currentBootId()}\n`
}

/**
 * The pid of the live process a lock file names, or undefined when the lock is stale: its process is gone,
 * a zombie, another process by now (a different start time), or from an earlier boot. A lock of the
 * pid-only form older versions wrote is judged by the pid alone.
 */
export function liveOwner(lockText: string): number | undefined {
  const [pidText, start, boot] = lockText.trim().split(/\s+/)
  const pid = Number.parseInt(pidText ?? '', 10)
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  if (boot !== undefined && boot !== currentBootId()) return undefined
  const stat = procStat(pid)
  if (stat === 'no-proc') return signalable(pid) ? pid : undefined
  if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return undefined
  if (start !== undefined && start !== '-' && start !== stat.startTicks) return undefined
  return pid
}
