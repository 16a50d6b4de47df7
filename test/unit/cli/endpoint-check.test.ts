import { describe, expect, it } from 'vitest'
import { endpointMismatch } from '../../../src/cli/endpoint-check.js'

describe('endpointMismatch', () => {
  it('is silent when the listed file lives under the endpoint, with or without a trailing slash', () => {
    expect(endpointMismatch('https://ik.imagekit.io/acme', 'https://ik.imagekit.io/acme/a/b.jpg?updatedAt=1')).toBeUndefined()
    expect(endpointMismatch('https://ik.imagekit.io/acme/', 'https://ik.imagekit.io/acme/b.jpg')).toBeUndefined()
    expect(endpointMismatch('http://127.0.0.1:8080/demo', 'http://127.0.0.1:8080/demo/docs/x.md')).toBeUndefined()
  })

  it('names both ids when the first path segment differs on the same host', () => {
    expect(endpointMismatch('https://ik.imagekit.io/acmee', 'https://ik.imagekit.io/acme/b.jpg')).toBe(
      "the URL endpoint https://ik.imagekit.io/acmee does not match the library's files, whose URLs start with " +
        'https://ik.imagekit.io/acme: signed reads (private files, --only-signed) will fail; set --endpoint https://ik.imagekit.io/acme',
    )
  })

  it('leaves custom domains, empty libraries and unparsable URLs alone', () => {
    expect(endpointMismatch('https://images.example.com', 'https://ik.imagekit.io/acme/b.jpg')).toBeUndefined()
    expect(endpointMismatch('https://ik.imagekit.io/acme', undefined)).toBeUndefined()
    expect(endpointMismatch('https://ik.imagekit.io/acme', 'not a url')).toBeUndefined()
  })
})
