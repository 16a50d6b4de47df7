// Rewrites README.md's options table from src/config/options.ts (run: npm run docs:options).
import { readFile, writeFile } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderOptionsMarkdown, spliceOptionsSection } from '../../dist/src/config/options-doc.js'

const readme = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md')
await writeFile(readme, spliceOptionsSection(await readFile(readme, 'utf8'), renderOptionsMarkdown()))
