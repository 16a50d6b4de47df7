import { describe, expect, it } from 'vitest'
import { processContext } from '../../../src/cli/context.js'
import { defaultDaemonLogFile, isDaemonChild, notLiveInTime, runInBackground } from '../../../src/cli/daemon.js'

describe('ikfs mount --daemon', () => {
  it('logs where native/mount.fuse.ikfs does: /var/log/ikfs for root, the XDG state folder otherwise', () => {
    expect(defaultDaemonLogFile('/mnt/photos', { env: {}, home: '/root' }, 0)).toBe('/var/log/ikfs/mnt-photos.log')
    expect(defaultDaemonLogFile('/home/me/ImageKit', { env: {}, home: '/home/me' }, 1000)).toBe('/home/me/.local/state/ikfs/home-me-ImageKit.log')
    expect(defaultDaemonLogFile('/m', { env: { XDG_STATE_HOME: '/state' }, home: '/home/me' }, 1000)).toBe('/state/ikfs/m.log')
    // Relative: the daemon's log went to state/ikfs under whatever folder ikfs mount was run from.
    expect(defaultDaemonLogFile('/m', { env: { XDG_STATE_HOME: 'state' }, home: '/home/me' }, 1000)).toBe('/home/me/.local/state/ikfs/m.log')
    expect(defaultDaemonLogFile('/', { env: {}, home: '/root' }, 0)).toBe('/var/log/ikfs/root.log')
  })

  it('a --daemon-wait that runs out says what the daemon was still doing and where its log is', () => {
    expect(notLiveInTime(5_000, 'checking the keys with the Media API (https://api.imagekit.io)', '/var/log/ikfs/m.log')).toBe(
      'ikfs: the mount was not live within 5s: it was still checking the keys with the Media API (https://api.imagekit.io); ' +
        'stopping the daemon (--daemon-wait is shorter than the 15s the checks before mounting may take: a longer one lets them ' +
        'finish and say what is wrong). Its log: /var/log/ikfs/m.log\n',
    )
    expect(notLiveInTime(60_000, 'mounting at /m', '/l.log')).toBe(
      'ikfs: the mount was not live within 60s: it was still mounting at /m; stopping the daemon. Its log: /l.log\n',
    )
    expect(notLiveInTime(60_000, undefined, '/l.log')).toContain('within 60s: it had not started its checks yet;')
  })

  it('tells a daemon child by its environment only', () => {
    expect(isDaemonChild({ IKFS_DAEMON_CHILD: '1' })).toBe(true)
    expect(isDaemonChild({})).toBe(false)
    expect(isDaemonChild({ IKFS_DAEMON_CHILD: '0' })).toBe(false)
  })
})

describe('ikfs mount --daemon, its log file', () => {
  it('refuses a log file it cannot create before starting anything, and says how to choose another', async () => {
    const ctx = { ...processContext(), env: {} }
    await expect(runInBackground({ args: [], logFile: '/proc/ikfs-no-such-folder/d.log', logFileGiven: true, timeoutMs: 1000 }, ctx))
      .rejects.toThrow(/cannot write the daemon's log file \/proc\/ikfs-no-such-folder\/d.log: .*ENOENT.*choose another with --log-file/)
  })
})
