/** allow_other for users who are not root: refused before mounting unless /etc/fuse.conf allows it. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { allowOtherRefusal, userAllowOther } from '../../../src/fuse/fuse-conf.js'

const dir = mkdtempSync(join(tmpdir(), 'ikfs-fuse-conf-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function conf(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe('fuse.conf and allow_other', () => {
  it('needs an uncommented user_allow_other line; a missing file does not allow it', async () => {
    expect(await userAllowOther(conf('set', '# mount_max = 1000\n  user_allow_other  \n'))).toBe(true)
    expect(await userAllowOther(conf('commented', '#user_allow_other\n'))).toBe(false)
    expect(await userAllowOther(join(dir, 'missing'))).toBe(false)
  })

  it('root needs nothing; another user gets the reason and the fix', async () => {
    const none = conf('none', '')
    expect(await allowOtherRefusal(0, none)).toBeUndefined()
    expect(await allowOtherRefusal(1000, conf('ok', 'user_allow_other\n'))).toBeUndefined()
    expect(await allowOtherRefusal(1000, none)).toBe(
      `--allow-other needs user_allow_other in ${none} when not mounting as root (echo user_allow_other | sudo tee -a /etc/fuse.conf), or mount without it`,
    )
  })
})
