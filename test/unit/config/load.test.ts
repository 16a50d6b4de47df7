import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConfigError } from '../../../src/config/config-error.js'
import { parseArgs } from '../../../src/config/flags.js'
import { loadConfig, type LoadInput } from '../../../src/config/load.js'
import { RCLONE_IMAGEKIT_ENCODING } from '../../../src/config/options.js'

const ENDPOINT = 'https://ik.imagekit.io/acme'
const PRIVATE_KEY = 'private_S3cr3tValueThatMustNeverLeak='
const IDENTITY = { uid: 1234, gid: 5678, umask: 0o027 }

let root: string
let home: string
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ikfs-config-'))
  home = join(root, 'home')
  mkdirSync(home)
})
afterEach(() => rmSync(root, { recursive: true, force: true }))

function input(over: Partial<LoadInput> = {}): LoadInput {
  return {
    env: { IKFS_ENDPOINT: ENDPOINT, IKFS_PRIVATE_KEY: PRIVATE_KEY },
    cwd: root,
    home,
    identity: IDENTITY,
    ...over,
  }
}

function flags(...argv: string[]): LoadInput['options'] {
  return parseArgs(argv).options
}

/** Writes `text` as the default ikfs config file (mode 0600) and returns its path. */
function writeConf(text: string, path = join(home, '.config/ikfs/ikfs.conf'), mode = 0o600): string {
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, text)
  chmodSync(path, mode)
  return path
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return e as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('defaults', () => {
  it('gives every option its documented default', () => {
    const c = loadConfig(input())
    expect(c.endpoint).toBe(ENDPOINT)
    expect(c.onlySigned).toBe(false)
    expect(c.versions).toBe(false)
    expect(c.uploadTags).toBe('')
    expect(c.encoding).toBe(RCLONE_IMAGEKIT_ENCODING)
    expect(c.apiUrl).toBe('https://api.imagekit.io')
    expect(c.uploadUrl).toBe('https://upload.imagekit.io')
    expect(c.dirCacheTimeMs).toBe(5 * 60_000)
    expect(c.attrTimeoutMs).toBe(5_000)
    expect(c.negativeTimeoutMs).toBe(60_000)
    expect([c.uid, c.gid, c.umask]).toEqual([1234, 5678, 0o027])
    expect([c.fileMode, c.dirMode]).toEqual([0o644, 0o755])
    expect(c.cacheDir).toBe(join(home, '.cache/ikfs'))
    expect(c.writeBackMs).toBe(0)
    expect(c.blockCacheBytes).toBe(64 * 1024 ** 2)
    expect(c.writtenCacheBytes).toBe(64 * 1024 ** 2)
    expect(c.maxBufferedBytes).toBe(512 * 1024 ** 2)
    expect(c.maxCachedDirs).toBe(1000)
    expect(c.maxConnections).toBe(32)
    expect(c.requestTimeoutMs).toBe(60_000)
    expect(c.retries).toBe(5)
    expect(c.signedUrlExpiryMs).toBe(3_600_000)
    expect(c.statfsTotalBytes).toBe(0)
    expect(c.logLevel).toBe('info')
    expect(c.logFile).toBe('')
    expect(c.config).toBe(join(home, '.config/ikfs/ikfs.conf'))
    expect(c.sources.dirCacheTimeMs).toEqual({ kind: 'default' })
    expect(c.warnings).toEqual([])
    expect(Object.isFrozen(c)).toBe(true)
  })

  it('follows XDG_CONFIG_HOME and XDG_CACHE_HOME', () => {
    const c = loadConfig(input({
      env: { IKFS_ENDPOINT: ENDPOINT, IKFS_PRIVATE_KEY: PRIVATE_KEY, XDG_CONFIG_HOME: '/xdg/conf', XDG_CACHE_HOME: '/xdg/cache' },
    }))
    expect(c.config).toBe('/xdg/conf/ikfs/ikfs.conf')
    expect(c.cacheDir).toBe('/xdg/cache/ikfs')
  })
})

describe('precedence: flag > env > config file > default', () => {
  const conf = `[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\ndir_cache_time = 3m\n`

  it('takes the config file over the default', () => {
    writeConf(conf)
    const c = loadConfig(input({ env: {}, remote: 'photos' }))
    expect(c.dirCacheTimeMs).toBe(180_000)
    expect(c.sources.dirCacheTimeMs).toMatchObject({ kind: 'file', section: 'photos' })
    expect(c.remote).toBe('photos')
  })

  it('takes the environment over the config file', () => {
    writeConf(conf)
    const c = loadConfig(input({ env: { IKFS_DIR_CACHE_TIME: '2m' }, remote: 'photos' }))
    expect(c.dirCacheTimeMs).toBe(120_000)
    expect(c.sources.dirCacheTimeMs).toEqual({ kind: 'env', variable: 'IKFS_DIR_CACHE_TIME' })
  })

  it('takes a flag over the environment', () => {
    writeConf(conf)
    const c = loadConfig(input({ env: { IKFS_DIR_CACHE_TIME: '2m' }, remote: 'photos', options: flags('--dir-cache-time', '1m') }))
    expect(c.dirCacheTimeMs).toBe(60_000)
    expect(c.sources.dirCacheTimeMs).toEqual({ kind: 'flag', flag: '--dir-cache-time' })
  })

  it('reads rclone backend variables, with IKFS_ ones first', () => {
    const c = loadConfig(input({
      env: { RCLONE_IMAGEKIT_ENDPOINT: 'https://ik.imagekit.io/other', RCLONE_IMAGEKIT_PRIVATE_KEY: PRIVATE_KEY, RCLONE_IMAGEKIT_VERSIONS: 'true' },
    }))
    expect(c.endpoint).toBe('https://ik.imagekit.io/other')
    expect(c.versions).toBe(true)
    const both = loadConfig(input({
      env: { IKFS_ENDPOINT: ENDPOINT, RCLONE_IMAGEKIT_ENDPOINT: 'https://ik.imagekit.io/other', IKFS_PRIVATE_KEY: PRIVATE_KEY },
    }))
    expect(both.endpoint).toBe(ENDPOINT)
  })

  it('treats an empty environment variable as unset', () => {
    const c = loadConfig(input({ env: { IKFS_ENDPOINT: ENDPOINT, IKFS_PRIVATE_KEY: PRIVATE_KEY, IKFS_RETRIES: '' } }))
    expect(c.retries).toBe(5)
  })

  it('accepts flags in every spelling: --x v, --x=v, bare booleans, rclone aliases', () => {
    const c = loadConfig(input({
      options: flags('--read-only', '--versions=false', '--umask=0002', '--block-cache-size', '1G', '--file-perms', '0600', '--imagekit-only-signed'),
    }))
    expect(c.readOnly).toBe(true)
    expect(c.versions).toBe(false)
    expect(c.umask).toBe(0o002)
    expect(c.blockCacheBytes).toBe(1024 ** 3)
    expect(c.fileMode).toBe(0o600)
    expect(c.onlySigned).toBe(true)
  })

  it('lets the program fix values above every source (ikfs demo)', () => {
    const c = loadConfig(input({
      options: flags('--endpoint', 'https://ik.imagekit.io/flag'),
      fixed: { by: 'ikfs demo', options: { endpoint: 'http://127.0.0.1:9/demo' } },
    }))
    expect(c.endpoint).toBe('http://127.0.0.1:9/demo')
    expect(c.sources.endpoint).toEqual({ kind: 'program', by: 'ikfs demo' })
  })
})

describe('bad values are ConfigErrors naming the option and the source', () => {
  it.each([
    [['--dir-cache-time', '5x'], 'dir_cache_time', /flag --dir-cache-time: "5x" is not a duration/],
    [['--block-cache-size', 'lots'], 'block_cache_size', /"lots" is not a size/],
    [['--umask', '999'], 'umask', /"999" is not an octal mode/],
    [['--read-only=perhaps'], 'read_only', /"perhaps" is not a boolean/],
    [['--log-level', 'loud'], 'log_level', /not one of fatal, error, warn, info, debug, trace, silent/],
    [['--max-connections', '0'], 'max_connections', /out of range/],
    [['--signed-url-expiry', '30s'], 'signed_url_expiry', /"30s" is shorter than 1m, the least it may be/],
    [['--request-timeout', '0'], 'request_timeout', /"0" is shorter than 1s, the least it may be/],
    [['--endpoint', 'ik.imagekit.io/acme'], 'endpoint', /is not a URL/],
    [['--api-url', 'ftp://x'], 'api_url', /http/],
    [['--encoding', 'Slash,Bogus'], 'encoding', /unknown encoding name "Bogus"/],
  ])('%j', (argv, option, message) => {
    const e = configError(() => loadConfig(input({ options: flags(...argv) })))
    expect(e.option).toBe(option)
    expect(e.message).toMatch(message)
    expect(e.message).toContain(option)
  })

  it('names an environment variable as the source', () => {
    const e = configError(() => loadConfig(input({ env: { IKFS_ENDPOINT: ENDPOINT, IKFS_PRIVATE_KEY: PRIVATE_KEY, IKFS_RETRIES: 'many' } })))
    expect(e.message).toMatch(/retries from environment variable IKFS_RETRIES: "many"/)
  })

  it('names the config file and section as the source', () => {
    const path = writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\nattr_timeout = soon\n`)
    const e = configError(() => loadConfig(input({ env: {}, remote: 'photos' })))
    expect(e.message).toContain(`attr_timeout from config file ${path} [photos]: "soon"`)
  })

  it('reports a missing endpoint or private key with every way to set it', () => {
    const noEndpoint = configError(() => loadConfig(input({ env: { IKFS_PRIVATE_KEY: PRIVATE_KEY } })))
    expect(noEndpoint.option).toBe('endpoint')
    expect(noEndpoint.message).toMatch(/missing endpoint: set --endpoint, IKFS_ENDPOINT or RCLONE_IMAGEKIT_ENDPOINT/)
    const noKey = configError(() => loadConfig(input({ env: { IKFS_ENDPOINT: ENDPOINT } })))
    expect(noKey.option).toBe('private_key')
  })

  it('rejects ImageKit\'s delivery host without the account\'s id as the endpoint', () => {
    for (const endpoint of ['https://ik.imagekit.io', 'https://ik.imagekit.io/']) {
      const e = configError(() => loadConfig(input({ env: { IKFS_ENDPOINT: endpoint, IKFS_PRIVATE_KEY: PRIVATE_KEY } })))
      expect(e.message).toBe('endpoint from environment variable IKFS_ENDPOINT has no ImageKit id; use your URL endpoint, e.g. https://ik.imagekit.io/your_id')
    }
    expect(loadConfig(input({ env: { IKFS_ENDPOINT: 'https://ik.imagekit.io/acme', IKFS_PRIVATE_KEY: PRIVATE_KEY } })).endpoint).toBe('https://ik.imagekit.io/acme')
  })

  it('rejects an API host given as the endpoint', () => {
    const e = configError(() => loadConfig(input({ options: flags('--endpoint', 'https://api.imagekit.io') })))
    expect(e.message).toMatch(/API host/)
  })
})

describe('secrets are never echoed', () => {
  it('does not echo a public key given as the private key', () => {
    const publicKey = 'public_NotSecretButStillNotEchoed123='
    const e = configError(() => loadConfig(input({ env: { IKFS_ENDPOINT: ENDPOINT, IKFS_PRIVATE_KEY: publicKey } })))
    expect(e.option).toBe('private_key')
    expect(e.message).toMatch(/is a public key/)
    expect(e.message).not.toContain(publicKey)
  })

  it('does not echo a private key with a line break in it', () => {
    const e = configError(() => loadConfig(input({ env: { IKFS_ENDPOINT: ENDPOINT, IKFS_PRIVATE_KEY: `${PRIVATE_KEY}\n` } })))
    expect(e.message).toMatch(/spaces or line breaks/)
    expect(e.message).not.toContain(PRIVATE_KEY)
  })

  it('does not echo the value of an unknown flag (a mistyped --private-key)', () => {
    const e = configError(() => parseArgs([`--privat-key=${PRIVATE_KEY}`]))
    expect(e.message).toBe('unknown flag --privat-key (did you mean --private-key? see `ikfs --help`)')
  })

  it('names the flag or config key a mistyped one was most likely meant as, and only a close one', () => {
    expect(configError(() => parseArgs(['--dir-cache-tim', '5m'], {}, 'ikfs mount')).message)
      .toBe('unknown flag --dir-cache-tim (did you mean --dir-cache-time? see `ikfs mount --help`)')
    expect(configError(() => parseArgs(['--lazzy'], { '--lazy': { takesValue: false, help: '' } })).message)
      .toBe('unknown flag --lazzy (did you mean --lazy? see `ikfs --help`)')
    expect(configError(() => parseArgs(['--frobnicate'])).message).toBe('unknown flag --frobnicate (see `ikfs --help`)')
    const conf = writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\ndir_cach_time = 10m\nuplaod_tags = a\n`)
    expect(loadConfig(input({ env: {}, remote: 'photos' })).warnings).toEqual([
      `${conf} [photos]: unknown key "dir_cach_time" ignored (did you mean dir_cache_time?)`,
      `${conf} [photos]: unknown key "uplaod_tags" ignored (did you mean upload_tags?)`,
    ])
  })

  it('does not echo the private key given by mistake as the value of another option', () => {
    const fromFlag = configError(() => loadConfig(input({ options: flags('--transfers', PRIVATE_KEY) })))
    expect(fromFlag.option).toBe('transfers')
    expect(fromFlag.message).toMatch(/^invalid transfers from flag --transfers: the value \(not shown/)
    expect(fromFlag.message).not.toContain(PRIVATE_KEY)
    const conf = writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\nread_only = ${PRIVATE_KEY}\n`)
    const fromFile = configError(() => loadConfig(input({ env: {}, remote: 'photos' })))
    expect(fromFile.message).toMatch(new RegExp(`^invalid read_only from config file ${conf} \\[photos\\]: the value \\(not shown`))
    expect(fromFile.message).not.toContain(PRIVATE_KEY)
  })

  it('does not echo what looks like a private key in another option (the endpoint and the key swapped)', () => {
    const e = configError(() => loadConfig(input({ env: { IKFS_ENDPOINT: PRIVATE_KEY, IKFS_PRIVATE_KEY: ENDPOINT } })))
    expect(e.option).toBe('endpoint')
    expect(e.message).toMatch(/^invalid endpoint from environment variable IKFS_ENDPOINT: the value \(not shown/)
    expect(e.message).not.toContain(PRIVATE_KEY)
  })

  it('does not echo a private key pasted on a line of its own in a config file section (read as a key name)', () => {
    // Keys are base64 and end in "=": the line reads as `private_… = ` (an unknown key with an empty value).
    const conf = writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\n${PRIVATE_KEY}\nfrobnicate = 1\n`)
    const c = loadConfig(input({ env: {}, remote: 'photos' }))
    expect(c.warnings).toEqual([
      `${conf} [photos]: a line that looks like a private key, not a "key = value" setting, ignored (not shown)`,
      `${conf} [photos]: unknown key "frobnicate" ignored`,
    ])
    expect(c.warnings.join('\n')).not.toContain(PRIVATE_KEY.slice(0, -1))
  })

  it('turns the written cache off at 0 and refuses more memory than it may take, as sizes are written', () => {
    expect(loadConfig(input({ options: flags('--written-cache-size', '0') })).writtenCacheBytes).toBe(0)
    expect(loadConfig(input({ options: flags('--written-cache-size', '1G') })).writtenCacheBytes).toBe(1024 ** 3)
    const e = configError(() => loadConfig(input({ options: flags('--written-cache-size', '2G') })))
    expect(e.message).toBe('invalid written_cache_size from flag --written-cache-size: "2G" is larger than 1G, the most it may be')
  })

  it('with libraryOptional (ikfs doctor), gives no library as empty endpoint and key, but one of them alone is still missing the other', () => {
    const none = loadConfig(input({ env: {}, libraryOptional: true }))
    expect([none.endpoint, none.privateKey, none.blockCacheBytes]).toEqual(['', '', 64 * 1024 ** 2])
    expect(configError(() => loadConfig(input({ env: {} }))).message).toMatch(/^missing endpoint: /)
    const half = configError(() => loadConfig(input({ env: { IKFS_ENDPOINT: ENDPOINT }, libraryOptional: true })))
    expect(half.message).toMatch(/^missing private_key: /)
  })

  it('still quotes a wrong value that is no key', () => {
    const e = configError(() => loadConfig(input({ options: flags('--transfers', 'lots') })))
    expect(e.message).toBe('invalid transfers from flag --transfers: "lots" is not a whole number')
  })

  it('warns that a private key on the command line shows in ps, without the key', () => {
    const c = loadConfig(input({ options: flags('--private-key', PRIVATE_KEY) }))
    expect(c.warnings.join('\n')).toMatch(/visible|see in `ps`/)
    expect(c.warnings.join('\n')).not.toContain(PRIVATE_KEY)
  })
})

describe('config file remotes (rclone.conf format)', () => {
  it('mounts a remote by name, with mount options in the section', () => {
    writeConf([
      '# my remotes',
      '[other]',
      'type = s3',
      '',
      '[photos]',
      'type = imagekit',
      `endpoint = ${ENDPOINT}/`,
      'public_key = public_abc',
      `private_key = ${PRIVATE_KEY}`,
      'versions = true',
      'read_only = true',
      '; a comment',
    ].join('\n'))
    const c = loadConfig(input({ env: {}, remote: 'photos' }))
    expect(c.endpoint).toBe(ENDPOINT)
    expect(c.privateKey).toBe(PRIVATE_KEY)
    expect(c.publicKey).toBe('public_abc')
    expect(c.versions).toBe(true)
    expect(c.readOnly).toBe(true)
    expect(c.configFile).toBe(join(home, '.config/ikfs/ikfs.conf'))
    expect(c.warnings).toEqual([])
  })

  it('takes the public key as given, in any shape, or none: ikfs never sends it (the API takes the private key alone)', () => {
    for (const publicKey of ['public_abc', 'not a key at all', '']) {
      writeConf(['[photos]', 'type = imagekit', `endpoint = ${ENDPOINT}`, `public_key = ${publicKey}`, `private_key = ${PRIVATE_KEY}`].join('\n'))
      const c = loadConfig(input({ env: {}, remote: 'photos' }))
      expect(c.publicKey).toBe(publicKey)
      expect(c.warnings).toEqual([])
    }
  })

  it('rejects a section whose type is not imagekit', () => {
    writeConf('[bucket]\ntype = s3\nendpoint = https://s3.example.com\n')
    const e = configError(() => loadConfig(input({ remote: 'bucket' })))
    expect(e.message).toMatch(/remote "bucket" in .* has type = s3; ikfs mounts only type = imagekit/)
  })

  it('accepts a section without a type line (ikfs extension)', () => {
    writeConf(`[plain]\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\n`)
    expect(loadConfig(input({ env: {}, remote: 'plain' })).remote).toBe('plain')
  })

  it('falls back to rclone.conf when the ikfs config has no such remote', () => {
    writeConf('[something]\ntype = imagekit\n')
    const rclonePath = writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\n`, join(home, '.config/rclone/rclone.conf'))
    const c = loadConfig(input({ env: {}, remote: 'photos' }))
    expect(c.configFile).toBe(rclonePath)
  })

  it('reads a relative RCLONE_CONFIG from the working folder, as rclone and --config do', () => {
    const inCwd = writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\n`, join(root, 'conf', 'rclone.conf'))
    writeConf('[photos]\ntype = s3\n', join(home, 'conf', 'rclone.conf'))
    const c = loadConfig(input({ env: { RCLONE_CONFIG: 'conf/rclone.conf' }, remote: 'photos' }))
    expect(c.configFile).toBe(inCwd)
  })

  it('reads only the file RCLONE_CONFIG names, as rclone does: a remote it lacks is not taken from ~/.config/rclone', () => {
    writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\n`, join(home, '.config/rclone/rclone.conf'))
    const named = writeConf('[other]\ntype = imagekit\n', join(root, 'named.conf'))
    const e = configError(() => loadConfig(input({ env: { RCLONE_CONFIG: named }, remote: 'photos' })))
    expect(e.message).toBe(`remote "photos" not found in ${named} (imagekit remotes there: other)`)
  })

  it('reads a quoted value as rclone does, and says an encrypted rclone.conf cannot be read', () => {
    writeConf(`[photos]\ntype = imagekit\nendpoint = "${ENDPOINT}"\nprivate_key = '${PRIVATE_KEY}'\n`, join(home, '.config/rclone/rclone.conf'))
    const c = loadConfig(input({ env: {}, remote: 'photos' }))
    expect([c.endpoint, c.privateKey]).toEqual([ENDPOINT, PRIVATE_KEY])
    const encrypted = writeConf('# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nQ2hhY2hh\n', join(root, 'enc.conf'))
    const e = configError(() => loadConfig(input({ env: { RCLONE_CONFIG: encrypted }, remote: 'photos' })))
    expect(e.message).toMatch(new RegExp(`^${encrypted} is an encrypted rclone config, which ikfs cannot read`))
  })

  it('reads only the named file when --config is given', () => {
    writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\n`, join(home, '.config/rclone/rclone.conf'))
    const own = writeConf('[x]\ntype = imagekit\n', join(root, 'own.conf'))
    const e = configError(() => loadConfig(input({ env: {}, remote: 'photos', options: flags('--config', 'own.conf') })))
    expect(e.message).toBe(`remote "photos" not found in ${own} (imagekit remotes there: x)`)
    const missing = configError(() => loadConfig(input({ env: {}, remote: 'photos', options: flags('--config', 'nope.conf') })))
    expect(missing.message).toMatch(/config file .*nope\.conf does not exist/)
  })

  it('names the imagekit remotes it found when the one asked for is not there (a misspelt name)', () => {
    // A key pasted as a header is a section too: never printed.
    writeConf('[photos]\ntype = imagekit\n[backup]\ntype = s3\n[private_PastedAsAHeader]\n')
    const rclonePath = writeConf('[myremote]\ntype = imagekit\n[archive]\n', join(home, '.config/rclone/rclone.conf'))
    const e = configError(() => loadConfig(input({ env: {}, remote: 'myremot' })))
    expect(e.message).toBe(`remote "myremot" not found in ${join(home, '.config/ikfs/ikfs.conf')} or ${rclonePath} (imagekit remotes there: photos, myremote, archive)`)
    const none = writeConf('[backup]\ntype = s3\n', join(root, 'none.conf'))
    expect(configError(() => loadConfig(input({ env: {}, remote: 'photos', options: flags('--config', none) }))).message)
      .toBe(`remote "photos" not found in ${none} (no imagekit remote there)`)
  })

  it('points at a section header without its closing "]" when the remote is not found', () => {
    const path = writeConf('# mine\n[photos\ntype = imagekit\n')
    const e = configError(() => loadConfig(input({ env: {}, remote: 'photos', options: flags('--config', path) })))
    expect(e.message).toBe(`remote "photos" not found in ${path} (no imagekit remote there; ${path}:2 starts a section without its closing "]")`)
  })

  it('says where it looked when the remote is nowhere', () => {
    const e = configError(() => loadConfig(input({ env: {}, remote: 'ghost' })))
    expect(e.message).toMatch(/remote "ghost" not found \(no config file at .*ikfs\.conf or .*rclone\.conf\)/)
  })

  it('warns when a file holding a private key is readable by group or others', () => {
    const path = writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\n`, undefined, 0o644)
    const c = loadConfig(input({ env: {}, remote: 'photos' }))
    expect(c.warnings).toHaveLength(1)
    expect(c.warnings[0]).toContain(`${path} holds a private key and is readable by group or others (mode 0644)`)
    expect(c.warnings[0]).not.toContain(PRIVATE_KEY)
  })

  it('does not warn about a readable file without a private key', () => {
    writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\n`, undefined, 0o644)
    const c = loadConfig(input({ env: { IKFS_PRIVATE_KEY: PRIVATE_KEY }, remote: 'photos' }))
    expect(c.warnings).toEqual([])
  })

  it('warns about unknown keys instead of failing (rclone may add some)', () => {
    writeConf(`[photos]\ntype = imagekit\nendpoint = ${ENDPOINT}\nprivate_key = ${PRIVATE_KEY}\nshiny_new = 1\ndebug = true\ndescription = mine\n`)
    const c = loadConfig(input({ env: {}, remote: 'photos' }))
    expect(c.warnings).toEqual([
      expect.stringContaining('unknown key "shiny_new" ignored'),
      expect.stringContaining('"debug" cannot be set in a config file'),
    ])
    expect(c.debug).toBe(false)
  })

  it('reports a malformed line by number without quoting it', () => {
    const path = writeConf(`[photos]\n${PRIVATE_KEY.replace('=', '')}\n`)
    const e = configError(() => loadConfig(input({ env: {}, remote: 'photos' })))
    expect(e.message).toBe(`${path}:2: expected "[section]" or "key = value"`)
  })

  it('takes --daemon-wait as rclone mount does, and IKFS_MOUNT_TIMEOUT (seconds) as mount.fuse.ikfs documented it', () => {
    expect(loadConfig(input()).daemonWaitMs).toBe(60_000)
    expect(loadConfig(input({ options: flags('--daemon-wait', '2m') })).daemonWaitMs).toBe(120_000)
    expect(loadConfig(input({ env: { IKFS_ENDPOINT: ENDPOINT, IKFS_PRIVATE_KEY: PRIVATE_KEY, IKFS_MOUNT_TIMEOUT: '2.5' } })).daemonWaitMs).toBe(2500)
    for (const bad of ['0', 'soon']) {
      const e = configError(() => loadConfig(input({ env: { IKFS_ENDPOINT: ENDPOINT, IKFS_PRIVATE_KEY: PRIVATE_KEY, IKFS_MOUNT_TIMEOUT: bad } })))
      expect(e.message).toMatch(/^invalid daemon_wait from environment variable IKFS_MOUNT_TIMEOUT: "(0" is shorter than 1s|soon" is not a duration)/)
    }
  })
})
