/**
 * The custom metadata fields API (§4.17): create, list, update and delete the account's fields. Names are
 * unique among all fields ever created (a deleted field keeps its name taken, as the docs say), labels among
 * the live ones. Path policies (fields per folder) are not emulated: every field applies everywhere, so
 * `folderPath` lists them all.
 */
import type { LibraryContext } from './context.js'
import { ApiError } from './http-io.js'
import { newObjectId } from './ids.js'
import { checkFieldText, invalidField, parseFieldSchema, type MetadataFieldRecord } from './metadata-field-schema.js'

export const FIELD_NOT_FOUND_MESSAGE = 'No custom metadata field found with this id.'

/** The field as the API answers it (the SDKs' CustomMetadataField). */
export function toFieldObject(field: MetadataFieldRecord): Record<string, unknown> {
  return {
    id: field.id,
    name: field.name,
    label: field.label,
    schema: structuredClone(field.schema),
    ...(field.description ? { description: field.description } : {}),
  }
}

export function listMetadataFields(ctx: LibraryContext, query: URLSearchParams): Record<string, unknown>[] {
  const includeDeleted = query.get('includeDeleted') === 'true'
  return [...ctx.store.allMetadataFields()].filter((f) => includeDeleted || !f.deleted).map(toFieldObject)
}

export function createMetadataField(ctx: LibraryContext, body: Record<string, unknown>): Promise<MetadataFieldRecord> {
  return ctx.store.exclusive(async () => {
    const name = checkFieldText(body.name, 'name', true) as string
    const label = checkFieldText(body.label, 'label', true) as string
    const description = checkFieldText(body.description, 'description', false)
    if (body.schema === undefined) throw invalidField({ schema: 'is required' })
    const schema = parseFieldSchema(body.schema)
    if ([...ctx.store.allMetadataFields()].some((f) => f.name === name)) throw new ApiError(400, 'A custom metadata field with this name already exists.')
    refuseTakenLabel(ctx, label)
    const field: MetadataFieldRecord = { id: newObjectId(), name, label, schema, deleted: false, ...(description ? { description } : {}) }
    ctx.store.putMetadataField(field)
    return field
  })
}

export function updateMetadataField(ctx: LibraryContext, id: string, body: Record<string, unknown>): Promise<MetadataFieldRecord> {
  return ctx.store.exclusive(async () => {
    const field = liveField(ctx, id)
    if (body.label === undefined && body.schema === undefined) throw invalidField({ label: 'is required when schema is not given' })
    const label = checkFieldText(body.label, 'label', false)
    const description = checkFieldText(body.description, 'description', false)
    // The type stays the field's ("type cannot be updated and will be ignored"); the rest of the schema is replaced.
    const schema = body.schema === undefined ? field.schema : parseFieldSchema(withoutType(body.schema), field.schema.type)
    if (label !== undefined) refuseTakenLabel(ctx, label, id)
    const updated: MetadataFieldRecord = { ...field, label: label ?? field.label, schema }
    if (description !== undefined) {
      if (description === '') delete updated.description
      else updated.description = description
    }
    ctx.store.putMetadataField(updated)
    return updated
  })
}

/** Deleting keeps the values files hold; the name stays taken. */
export function deleteMetadataField(ctx: LibraryContext, id: string): Promise<void> {
  return ctx.store.exclusive(async () => {
    ctx.store.putMetadataField({ ...liveField(ctx, id), deleted: true })
  })
}

function liveField(ctx: LibraryContext, id: string): MetadataFieldRecord {
  const field = ctx.store.metadataField(id)
  if (!field || field.deleted) throw new ApiError(404, FIELD_NOT_FOUND_MESSAGE)
  return field
}

/** Labels are unique among the live fields (`exceptId`: the field being updated keeps its own). */
function refuseTakenLabel(ctx: LibraryContext, label: string, exceptId?: string): void {
  for (const field of ctx.store.liveMetadataFields().values()) {
    if (field.id !== exceptId && field.label === label) throw new ApiError(400, 'A custom metadata field with this label already exists.')
  }
}

function withoutType(schema: unknown): unknown {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return schema
  const { type: _ignored, ...rest } = schema as Record<string, unknown>
  return rest
}
