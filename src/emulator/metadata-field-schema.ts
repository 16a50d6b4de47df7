/**
 * Custom metadata fields (§4.17, the `/v1/customMetadataFields` API): the rules a field's schema must follow,
 * and whether a value fits a field. A file's `customMetadata` may only hold keys defined as fields, each value
 * of its field's type ("Before setting any custom metadata on an asset you have to create the field using
 * custom metadata fields API": ImageKit's docs and the SDKs' types). The 400 messages for schemas are the
 * documented ones ("Invalid field object" with an `errors` object); those for values are unconfirmed.
 */
import { ApiError } from './http-io.js'

export const FIELD_TYPES = ['Text', 'Textarea', 'Number', 'Date', 'Boolean', 'SingleSelect', 'MultiSelect'] as const
export type FieldType = (typeof FIELD_TYPES)[number]
type Scalar = string | number | boolean

export interface FieldSchema {
  type: FieldType
  selectOptions?: Scalar[]
  defaultValue?: Scalar | Scalar[]
  isValueRequired?: boolean
  minValue?: string | number
  maxValue?: string | number
  minLength?: number
  maxLength?: number
}

/** What the emulator keeps per field (journaled); `deleted` fields keep their name taken. */
export interface MetadataFieldRecord {
  id: string
  name: string
  label: string
  description?: string
  schema: FieldSchema
  deleted: boolean
}

export const INVALID_FIELD_MESSAGE = 'Invalid field object'
export const INVALID_METADATA_MESSAGE = 'Invalid custom metadata.'
const MAX_DESCRIPTION_CHARS = 500

const SCHEMA_KEYS: ReadonlySet<string> = new Set(['type', 'selectOptions', 'defaultValue', 'isValueRequired', 'minValue', 'maxValue', 'minLength', 'maxLength'])
const RANGE_TYPES: ReadonlySet<FieldType> = new Set(['Number', 'Date'])
const LENGTH_TYPES: ReadonlySet<FieldType> = new Set(['Text', 'Textarea'])
const SELECT_TYPES: ReadonlySet<FieldType> = new Set(['SingleSelect', 'MultiSelect'])

export function invalidField(errors: Record<string, string>): ApiError {
  return new ApiError(400, INVALID_FIELD_MESSAGE, { errors })
}

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean'
}

function isIsoDate(v: unknown): v is string {
  return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v))
}

/**
 * A schema from a create (`type` required) or an update (`type` is the field's, whatever was sent: "type
 * cannot be updated and will be ignored"). Throws 400 "Invalid field object" with every error found.
 */
export function parseFieldSchema(raw: unknown, existingType?: FieldType): FieldSchema {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidField({ schema: 'should be an object' })
  const input = raw as Record<string, unknown>
  const errors: Record<string, string> = {}
  for (const key of Object.keys(input)) if (!SCHEMA_KEYS.has(key)) errors[key] = 'is not allowed'
  const type = existingType ?? input.type
  if (type === undefined) errors.type = 'is required'
  else if (!(FIELD_TYPES as readonly unknown[]).includes(type)) errors.type = `should be one of ${FIELD_TYPES.join(', ')}`
  if (Object.keys(errors).length > 0) throw invalidField(errors)
  const schema: FieldSchema = { type: type as FieldType }

  const select = input.selectOptions
  if (SELECT_TYPES.has(schema.type)) {
    if (!Array.isArray(select) || select.length === 0 || !select.every(isScalar)) errors.selectOptions = 'should be a non-empty array of strings, numbers or booleans'
    else schema.selectOptions = [...select]
  } else if (select !== undefined) errors.selectOptions = 'not allowed for this type'

  for (const key of ['minValue', 'maxValue'] as const) {
    const v = input[key]
    if (v === undefined) continue
    if (!RANGE_TYPES.has(schema.type)) errors[key] = 'not allowed for this type'
    else if (schema.type === 'Number' && (typeof v !== 'number' || !Number.isFinite(v))) errors[key] = 'should be of type number'
    else if (schema.type === 'Date' && !isIsoDate(v)) errors[key] = 'should be a date in ISO 8601 format'
    else schema[key] = v as string | number
  }
  for (const key of ['minLength', 'maxLength'] as const) {
    const v = input[key]
    if (v === undefined) continue
    if (!LENGTH_TYPES.has(schema.type)) errors[key] = 'not allowed for this type'
    else if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) errors[key] = 'should be a non-negative integer'
    else schema[key] = v
  }
  if (schema.minValue !== undefined && schema.maxValue !== undefined && rangeKey(schema.minValue) > rangeKey(schema.maxValue)) errors.minValue = 'should not be more than maxValue'
  if (schema.minLength !== undefined && schema.maxLength !== undefined && schema.minLength > schema.maxLength) errors.minLength = 'should not be more than maxLength'

  if (input.isValueRequired !== undefined) {
    if (typeof input.isValueRequired !== 'boolean') errors.isValueRequired = 'should be of type boolean'
    else schema.isValueRequired = input.isValueRequired
  }
  if (Object.keys(errors).length > 0) throw invalidField(errors)

  if (input.defaultValue !== undefined) {
    const problem = valueProblem(schema, input.defaultValue)
    if (problem) errors.defaultValue = problem
    else schema.defaultValue = input.defaultValue as Scalar | Scalar[]
  } else if (schema.isValueRequired) {
    errors.defaultValue = 'is required when isValueRequired is true'
  }
  if (Object.keys(errors).length > 0) throw invalidField(errors)
  return schema
}

/** `name`, `label` and `description` of a create or update; `undefined` where absent and not required. */
export function checkFieldText(value: unknown, key: 'name' | 'label' | 'description', required: boolean): string | undefined {
  if (value === undefined && !required) return undefined
  if (typeof value !== 'string' || (key !== 'description' && value.trim() === '')) {
    const what = key === 'description' ? 'a string' : 'a non-empty string'
    throw invalidField({ [key]: required ? `is required and should be ${what}` : `should be ${what}` })
  }
  if (key === 'description' && value.length > MAX_DESCRIPTION_CHARS) throw invalidField({ description: `should be at most ${MAX_DESCRIPTION_CHARS} characters` })
  return value
}

function rangeKey(v: string | number): number {
  return typeof v === 'number' ? v : Date.parse(v)
}

/** Why `value` does not fit the field's schema, or undefined when it does. */
export function valueProblem(schema: FieldSchema, value: unknown): string | undefined {
  switch (schema.type) {
    case 'Text':
    case 'Textarea':
      if (typeof value !== 'string') return 'should be of type string'
      if (schema.minLength !== undefined && value.length < schema.minLength) return `should be at least ${schema.minLength} characters`
      if (schema.maxLength !== undefined && value.length > schema.maxLength) return `should be at most ${schema.maxLength} characters`
      return undefined
    case 'Number':
    case 'Date': {
      if (schema.type === 'Number' && (typeof value !== 'number' || !Number.isFinite(value))) return 'should be of type number'
      if (schema.type === 'Date' && !isIsoDate(value)) return 'should be a date in ISO 8601 format'
      const at = rangeKey(value as string | number)
      if (schema.minValue !== undefined && at < rangeKey(schema.minValue)) return `should be at least ${schema.minValue}`
      if (schema.maxValue !== undefined && at > rangeKey(schema.maxValue)) return `should be at most ${schema.maxValue}`
      return undefined
    }
    case 'Boolean':
      return typeof value === 'boolean' ? undefined : 'should be of type boolean'
    case 'SingleSelect':
      return schema.selectOptions?.includes(value as Scalar) ? undefined : 'should be one of the field\'s selectOptions'
    case 'MultiSelect':
      if (!Array.isArray(value)) return 'should be an array of the field\'s selectOptions'
      return value.every((v) => schema.selectOptions?.includes(v as Scalar)) ? undefined : 'should only hold the field\'s selectOptions'
  }
}

/**
 * The custom metadata a file ends up with: `current` (the file's, `{}` for a new one) changed by `sent`
 * (a key set to null is removed), checked against the account's fields. Every key must be a field's and
 * fit it; a required field left without a value gets its default (the docs: "applied on all files if none is
 * provided"), and one removed explicitly is refused. Throws 400 "Invalid custom metadata." naming each key.
 */
export function applyCustomMetadata(
  fields: ReadonlyMap<string, MetadataFieldRecord>,
  current: Readonly<Record<string, unknown>>,
  sent: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> {
  const errors: Record<string, string> = {}
  const result: Record<string, unknown> = { ...current }
  for (const [key, value] of Object.entries(sent ?? {})) {
    const field = fields.get(key)
    if (value === null) {
      if (field?.schema.isValueRequired) errors[key] = 'is required and cannot be removed'
      delete result[key]
      continue
    }
    if (!field) {
      errors[key] = 'is not a custom metadata field of this account (create it with the custom metadata fields API first)'
      continue
    }
    const problem = valueProblem(field.schema, value)
    if (problem) errors[key] = problem
    else result[key] = value
  }
  if (Object.keys(errors).length > 0) throw new ApiError(400, INVALID_METADATA_MESSAGE, { errors })
  for (const field of fields.values()) {
    if (field.schema.isValueRequired && result[field.name] === undefined && field.schema.defaultValue !== undefined) {
      result[field.name] = structuredClone(field.schema.defaultValue)
    }
  }
  return result
}
