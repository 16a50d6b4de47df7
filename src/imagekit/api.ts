/**
 * What the filesystem needs from ImageKit, as an interface: `ImageKitClient` (client.ts) implements it
 * over HTTP; unit tests of vfs/ may implement it in memory. No filesystem ideas here: paths are remote
 * ImageKit paths (`/folder/name.jpg`), already encoded by vfs/name.ts.
 */
import type { FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import type { ImageKitError } from './errors.js'
import type {
  AccountUsage, FileObject, FolderObject, ListItem, ListSort, ListType, UploadResponse, BulkJobStatus,
} from './types.js'

export interface ListFilesQuery {
  /** Folder whose direct children are listed (one level). */
  path?: string
  type?: ListType
  searchQuery?: string
  sort?: ListSort
  fileType?: 'all' | 'image' | 'non-image'
}

export interface RequestOptions {
  signal?: AbortSignal
  /**
   * Told each retriable failure before its retry: true ends the call with that failure instead (the caller
   * knows the server is down, and waits for it in one place rather than in every call).
   */
  giveUp?: (failure: ImageKitError) => boolean
}

/** Options of a change that a repeat would make twice (a copy adds a version per repeat). */
export interface RepeatableChangeOptions extends RequestOptions {
  /**
   * Asked before the call is sent again after an error or a lost answer: true when the earlier attempt's work
   * is there (the caller knows what the library held before), and the call then resolves without a repeat.
   */
  done?: () => Promise<boolean>
}

/**
 * Where `RangeResponse.deliver` puts body bytes: straight into buffers the consumer owns, so bytes go from
 * the socket to their final place without an intermediate copy.
 */
export interface BodySink {
  /**
   * The memory the next body bytes are written to, from its start; undefined when the sink cannot take
   * bytes now (delivery pauses, holding the server back by TCP flow control, until `resume()`). A region
   * handed out stays the sink's promise until bytes land in it or the response is closed.
   */
  nextRegion(): Uint8Array | undefined
  /** `n` bytes (n ≥ 1) were written at the start of the region last returned. */
  wrote(n: number): void
}

/** A ranged read of a delivery URL, already checked: status, Content-Range and length agree. */
export interface RangeResponse {
  /** Offset of the first body byte in the file (may be 0 when the server ignored the range). */
  start: number
  /** Total size of the file as the server reports it (Content-Range total or Content-Length of a 200). */
  totalSize: number
  /**
   * The body (bytes from `start` to the end of the requested range, or the file for open-ended ranges)
   * as a Readable. Use either this or `deliver`, not both.
   */
  readonly body: Readable
  /**
   * Delivers the body into `sink`. Resolves when the body has ended or `close()` was called; rejects with
   * an ImageKitError when it fails mid-way (the caller resumes with a new range).
   */
  deliver(sink: BodySink): Promise<void>
  /** Delivery continues after the sink returned no region. */
  resume(): void
  /** Stops reading the body; the connection is reused only if the body had already ended. */
  close(): void
  etag?: string
  requestId?: string
}

/** What a delivery URL is built from: a file object or version from a listing. */
export interface DeliveryTarget {
  filePath: string
  /** The `url` field from the API (carries `updatedAt`, and `ik-obj-version` for old versions); signed reads keep only its query when it names another endpoint. */
  url: string
  isPrivateFile: boolean
  /**
   * The version the bytes must come from. When `url` carries no version of its own (an upload response's
   * url has neither `updatedAt` nor `ik-obj-version`), it is added as a query parameter: the CDN caches by
   * full URL, so a version-specific URL never serves an older version's cached bytes.
   */
  versionId?: string
}

/** What an upload says about the file besides its bytes (the same for every way of sending them). */
export interface UploadFields {
  /** Remote folder, e.g. `/a/b` (root `/`). */
  folder: string
  fileName: string
  tags?: string[]
  customMetadata?: Record<string, unknown>
  customCoordinates?: string | null
  isPrivateFile?: boolean
  /** false uploads an unpublished (draft) version (enterprise plans); the API's default is published. */
  isPublished?: boolean
  /** Keep the existing file's tags/metadata when not sent (overwriteTags=false, ...). */
  keepExistingMetadata?: boolean
  onProgress?: (sentBytes: number) => void
}

export interface UploadRequest extends UploadFields {
  /** Local file to send (streamed unless small; never read whole when large). */
  localFile: string
  /** An open handle of `localFile`, read instead of reopening the file (never closed here). */
  localFileHandle?: FileHandle
  /**
   * Awaited as each attempt starts reading `localFile`; the function it gives is called once that attempt has
   * read all of it, or ended. The caller holds changes to the file in between, so that no request sends bytes
   * from before and after a change, and never through the waits between attempts (backoff, a 429's reset).
   */
  reading?: () => Promise<() => void>
  /**
   * Asked before the upload is sent again, with the error the previous attempt ended in: the version an
   * earlier attempt stored (its answer an error or lost), which is then the upload's result instead of a
   * repeat that would store the bytes once more. Undefined (or a failure) sends them again.
   */
  storedBefore?: (previous: ImageKitError) => Promise<UploadResponse | undefined>
  /**
   * Told, when an attempt has read all of a small file into memory (to send it from one buffer), the bytes it
   * read, before it sends them and while the caller still holds changes (`reading`): a view that stays as it is,
   * which the caller may keep.
   */
  read?: (bytes: Buffer) => void
}

/** An upload whose length is not known when it starts: the bytes come as they are produced. */
export interface StreamUploadRequest extends UploadFields {
  /** The file's bytes, in order; ends when the file is complete. Throwing aborts the request. */
  body: AsyncIterable<Buffer>
}

export interface ImageKitApi {
  /** All items of a query, page by page at the maximum page size; yields as pages arrive. */
  listFiles(query: ListFilesQuery, options?: RequestOptions): AsyncIterable<ListItem>
  getFileDetails(fileId: string, options?: RequestOptions): Promise<FileObject>
  listFileVersions(fileId: string, options?: RequestOptions): Promise<FileObject[]>
  getAccountUsage(options?: RequestOptions): Promise<AccountUsage>
  /** The URL to GET for the original bytes of a file or version (`tr=orig-true`, signed when needed). */
  deliveryUrl(target: DeliveryTarget): string
  /** GET `url` with `Range: bytes=start-[endInclusive]`. Throws ImageKitError on 4xx/5xx (after retries). */
  readRange(url: string, start: number, endInclusive: number | undefined, options?: RequestOptions): Promise<RangeResponse>

  // Write side (issue 4).
  uploadFile(request: UploadRequest, options?: RequestOptions): Promise<UploadResponse>
  /**
   * One upload attempt with a body of unknown length (chunked transfer encoding): a stream cannot be
   * replayed, so it is never retried. `options.signal` aborts it mid-body (the server stores nothing).
   */
  uploadFileStream(request: StreamUploadRequest, options?: RequestOptions): Promise<UploadResponse>
  deleteFile(fileId: string, options?: RequestOptions): Promise<void>
  renameFile(filePath: string, newFileName: string, options?: RequestOptions): Promise<void>
  moveFile(sourceFilePath: string, destinationPath: string, options?: RequestOptions): Promise<void>
  /** Copies the current version of a file into a folder, under the same name (a new file, versions not copied). */
  copyFile(sourceFilePath: string, destinationPath: string, options?: RepeatableChangeOptions): Promise<void>
  updateFileDetails(fileId: string, details: { tags?: string[] | null; customMetadata?: Record<string, unknown>; customCoordinates?: string | null }, options?: RequestOptions): Promise<FileObject>
  createFolder(parentFolderPath: string, folderName: string, options?: RequestOptions): Promise<void>
  /** `done`, asked before a repeat (after a 5xx, a 429, a lost answer): true sends none (the delete is recursive). */
  deleteFolder(folderPath: string, options?: RepeatableChangeOptions): Promise<void>
  /** Starts a bulk job and waits until it is Completed (or throws). */
  renameFolder(folderPath: string, newFolderName: string, options?: RequestOptions): Promise<BulkJobStatus>
  moveFolder(sourceFolderPath: string, destinationPath: string, options?: RequestOptions): Promise<BulkJobStatus>
}

export type { FileObject, FolderObject, ListItem }
