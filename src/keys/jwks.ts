import { createHash } from 'node:crypto'
import { isPublished, type KeySet } from './key-set.js'
import { toPublicJwk } from './key-material.js'

/** The JWKS of one key-set version, serialized once: requests only copy bytes. */
export interface JwksDocument {
  readonly version: number
  readonly body: Buffer
  /** Strong ETag over the body. */
  readonly etag: string
}

const ORDER = { active: 0, next: 1, retired: 2, revoked: 3 } as const

/**
 * Builds the published JWKS: every `next`, `active` and `retired` key, public members only. Members are copied
 * through an allow-list (`toPublicJwk`), so a private member can never be serialized by mistake.
 */
export function buildJwks(set: KeySet): JwksDocument {
  const keys = set.keys
    .filter(isPublished)
    .sort((a, b) => a.alg.localeCompare(b.alg) || ORDER[a.state] - ORDER[b.state] || a.createdAt - b.createdAt)
    .map((key) => toPublicJwk(key.publicJwk))
  const body = Buffer.from(JSON.stringify({ keys }))
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`
  return { version: set.version, body, etag }
}
