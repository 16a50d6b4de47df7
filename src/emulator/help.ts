/**
 * `ikfs emulator --help`: every flag main.ts parses, with its value, what it does and its default, laid out as
 * `ikfs mount --help` lays out its options. The defaults are the constants the emulator uses.
 */
import { DEFAULT_HELP_WIDTH, flagLines, hanging, wrap } from '../help-layout.js'
import { DEFAULT_ERROR_STATUSES, RESET_PHASES } from './faults.js'
import { MAX_FOLDER_DEPTH } from './names.js'
import { DEFAULT_CDN_STALE_MS, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MAX_VIDEO_UPLOAD_BYTES, DEFAULT_RATE_LIMIT_PER_SECOND } from './options.js'
import { DEFAULT_USAGE_CACHE_MS } from './usage-cache.js'
import { DEFAULT_WEBHOOK_RETRY } from './webhooks.js'

interface FlagDoc {
  flag: string
  /** Placeholder of the value; none for a flag that takes none. */
  value?: string
  help: string
  /** `default …` text, or `required`. */
  default: string
}

const GROUPS: readonly { title: string; flags: readonly FlagDoc[] }[] = [
  {
    title: 'Server',
    flags: [
      { flag: '--data', value: 'path', help: 'Folder that holds the library (files/ the current bytes, .ikemu/ metadata and older versions); made if missing. One emulator per folder.', default: 'required' },
      { flag: '--port', value: 'int', help: 'TCP port to listen on.', default: 'default 0: a free port, printed once listening' },
      { flag: '--host', value: 'address', help: 'Interface to listen on.', default: 'default 127.0.0.1' },
      { flag: '--private-key', value: 'string', help: 'The private key clients must send (Basic auth). Prefer the environment: a flag is visible in `ps`.', default: 'required; env IKFS_EMULATOR_PRIVATE_KEY' },
      { flag: '--public-key', value: 'string', help: 'The public key client-side uploads must name.', default: 'default ""; env IKFS_EMULATOR_PUBLIC_KEY' },
      { flag: '--id', value: 'string', help: 'ImageKit id: the URL endpoint is <url>/<id>.', default: 'default demo' },
      { flag: '--seed', value: 'demo', help: 'Fill an empty library with the demo media after start.', default: 'default none' },
      { flag: '--log-level', value: 'level', help: 'fatal, error, warn, info, debug, trace or silent.', default: 'default info' },
    ],
  },
  {
    title: 'Fidelity',
    flags: [
      { flag: '--names', value: 'permissive|strict', help: 'permissive keeps file names as sent (what the service does in practice); strict applies the documented rewriting.', default: 'default permissive' },
      { flag: '--max-upload-bytes', value: 'int', help: 'Largest upload accepted, in bytes.', default: `default ${DEFAULT_MAX_UPLOAD_BYTES}, the free plan's limit` },
      { flag: '--max-video-upload-bytes', value: 'int', help: 'Largest upload of a video (by its name) accepted, in bytes (the plans: free 100 MB, Lite 300 MB, Pro 2 GB).', default: `default ${DEFAULT_MAX_VIDEO_UPLOAD_BYTES}, the free plan's, never below --max-upload-bytes` },
      { flag: '--cdn-stale-ms', value: 'int', help: 'How long a URL already served keeps serving the old bytes after an overwrite, rename, move or delete (the CDN caches by full URL).', default: `default ${DEFAULT_CDN_STALE_MS}` },
      { flag: '--max-folder-depth', value: 'int', help: 'How many folders deep a folder may nest: a create, an upload or a folder move or copy that would go deeper is refused (400). ImageKit documents 50 for the upload\'s folder; that creates and folder jobs are held to it too is unconfirmed.', default: `default ${MAX_FOLDER_DEPTH}` },
      { flag: '--restrict-unsigned', help: 'The account setting "restrict unsigned URLs": only signed URLs are delivered.', default: 'default off' },
      { flag: '--no-url-uploads', help: 'Refuse uploads whose file is an http(s) URL (400) instead of fetching it, for an emulator that must not reach other hosts.', default: 'default off: such uploads are fetched' },
      { flag: '--rate-limit', value: 'int', help: 'Media API requests a second before answering 429 (uploads are not limited); 0: no limit.', default: `default ${DEFAULT_RATE_LIMIT_PER_SECOND}` },
      { flag: '--rate-limit-headers', value: 'every|429', help: 'Which Media API answers carry X-RateLimit-Limit/-Reset/-Interval: every one, as the docs say, or only the 429s, as the API spec declares them.', default: 'default every' },
      { flag: '--usage-cache-ms', value: 'int', help: 'How long the account usage API answers a date range with the numbers of its first call, as the real API caches them; 0: always the numbers as they are now.', default: `default ${DEFAULT_USAGE_CACHE_MS}, the documented 6 hours` },
      { flag: '--custom-field-delete', value: '204|200', help: 'How deleting a custom metadata field answers: 204 with no body, as the docs show, or 200 with {}, the body the SDK 7 types declare.', default: 'default 204' },
      { flag: '--non-image-metadata', value: '400|200', help: 'How the metadata API answers for a file that is neither an image nor a video (a .txt, a .pdf): 400 "The requested file is corrupt or invalid.", the one 400 the API documents there, or 200 with an object of zeros.', default: 'default 400' },
      { flag: '--public-url-base', value: 'url', help: 'Base of url/thumbnail in API answers instead of the URL endpoint (same path layout), for benchmarks.', default: 'default the URL endpoint' },
      { flag: '--url-encoding', value: 'uri|sdk', help: 'How url/thumbnail in API answers escape | ^ [ ]: uri as encodeURI does, sdk as the SDKs\' URLs do. Delivery takes either.', default: 'default uri' },
      { flag: '--extensions', value: 'pending|success|failed', help: 'How extensions asked for on upload or update end: pending answers pending and stores stand-in results (AI tags, a description) a moment later, success stores them before answering, failed runs none.', default: 'default pending' },
      { flag: '--no-webhooks', help: 'Send no webhook when a pending extension completes (its final status normally goes to the request\'s webhookUrl), for an emulator that must not reach other hosts.', default: 'default off: webhooks are sent' },
      { flag: '--clock-offset-ms', value: 'int', help: 'Run the emulator\'s clock this many ms ahead of this machine\'s (negative: behind), as ImageKit\'s clock may differ from a client\'s: signed URL expiry, the times it stores and the Date header of its answers follow it.', default: 'default 0' },
      { flag: '--webhook-retry-ms', value: 'int', help: 'Wait before a webhook that failed (not answered 200 within 30 s) is tried again; each wait doubles, up to an hour, for 24 hours, as the service retries "in spaced intervals" for at most a day. 0: one try only.', default: `default ${DEFAULT_WEBHOOK_RETRY.firstDelayMs}` },
    ],
  },
  {
    title: 'Faults (seeded: a run replays with the same --fault-seed; changeable at run time at /_emulator/faults)',
    flags: [
      { flag: '--error-rate', value: 'fraction', help: 'Share (0 to 1) of requests answered with one of --error-statuses.', default: 'default 0' },
      { flag: '--error-statuses', value: 'list', help: 'Comma list of the statuses --error-rate and --error-after-work-rate answer with.', default: `default ${DEFAULT_ERROR_STATUSES.join(',')}` },
      { flag: '--error-after-work-rate', value: 'fraction', help: 'Share of requests that change the library, uploads included, done and then answered with one of --error-statuses, as a gateway that gave up waiting would.', default: 'default 0' },
      { flag: '--latency-ms', value: 'int', help: 'Added before answering each request.', default: 'default 0' },
      { flag: '--reset-rate', value: 'fraction', help: 'Share of requests whose connection is reset mid-way.', default: 'default 0' },
      { flag: '--reset-phase', value: RESET_PHASES.join('|'), help: 'Where an upload\'s connection is reset: request (while its body arrives: nothing stored), response (after it was stored, its answer cut short), or half of each.', default: 'default both' },
      { flag: '--range-ignore-rate', value: 'fraction', help: 'Share of valid ranged GETs answered 200 with the whole body instead of 206.', default: 'default 0' },
      { flag: '--fault-seed', value: 'int', help: 'Seed of the faults drawn.', default: 'default 1' },
    ],
  },
]

/** Wrapped to `width` columns (the terminal's; src/help-layout.ts). */
export function emulatorHelp(width = DEFAULT_HELP_WIDTH): string {
  const out = [
    ...hanging('Usage: ', 'ikfs emulator --data DIR [flags]', width),
    '',
    ...wrap(
      'Runs a local stand-in for ImageKit: the Media API (/v1), the Upload API (/api/v1/files/upload) and the URL ' +
        'endpoint (/<id>) on one origin. Prints `ikfs emulator: listening on <url> (URL endpoint <url>/<id>)` once ' +
        'ready; SIGINT/SIGTERM stop it. Mount it with ikfs mount --api-url <url> --upload-url <url> --endpoint <url>/<id>.',
      width,
    ),
    '',
  ]
  for (const group of GROUPS) {
    out.push(...wrap(`${group.title}:`, width))
    for (const f of group.flags) out.push(...flagLines(`${f.flag}${f.value ? ` <${f.value}>` : ''}`, f.help, width, f.default))
    out.push('')
  }
  return out.join('\n')
}
