import type { KeySet } from '../keys/key-set.js'
import type { ClientRecord } from '../clients/client.js'

/**
 * The key-set storage contract. Every implementation passes test/store/conformance.ts.
 * A key set is only ever replaced whole, by a compare-and-swap on its version, so two writers racing produce
 * exactly one change and a crash leaves either the old or the new set.
 */
export interface KeySetStore {
  /** The newest key set; `EMPTY_KEY_SET` (version 0) when none was ever written. */
  load(): Promise<KeySet>
  /** The newest version number, cheaper than `load()`: for reload loops. */
  version(): Promise<number>
  /**
   * Stores `next` if and only if the stored version is `next.version - 1`.
   * @returns false when another writer got there first; the caller reloads and plans again.
   */
  compareAndSwap(next: KeySet): Promise<boolean>
}

/** The client registry contract. */
export interface ClientStore {
  get(id: string): Promise<ClientRecord | undefined>
  list(): Promise<ClientRecord[]>
  /** @throws KeyturnError `ERR_CLIENT_EXISTS` */
  create(client: ClientRecord): Promise<void>
  /** @throws KeyturnError `ERR_CLIENT_NOT_FOUND` */
  update(client: ClientRecord): Promise<void>
  /** @returns false if there was no such client */
  delete(id: string): Promise<boolean>
}

/** A user who can sign in with the password grant. `id` is opaque and is the `sub` of the user's tokens. */
export interface UserRecord {
  readonly id: string
  readonly username: string
  /** `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>` */
  readonly passwordHash: string
  /** Claims copied into the user's access tokens (e.g. `roles`); never registered claim names. */
  readonly claims: Readonly<Record<string, unknown>>
  readonly disabled: boolean
  /** Bumped by "sign out everywhere" and password changes: families issued under an older version are dead. */
  readonly tokenVersion: number
  readonly createdAt: number
  readonly updatedAt: number
}

export interface UserStore {
  get(id: string): Promise<UserRecord | undefined>
  /** Usernames are matched case-insensitively. */
  getByUsername(username: string): Promise<UserRecord | undefined>
  list(): Promise<UserRecord[]>
  /** @throws KeyturnError `ERR_USER_EXISTS` */
  create(user: UserRecord): Promise<void>
  /** Replaces the record; `tokenVersion` is never lowered by it. @throws KeyturnError `ERR_USER_NOT_FOUND` */
  update(user: UserRecord): Promise<void>
  /** Atomically increments the token version. @returns the new version. @throws KeyturnError `ERR_USER_NOT_FOUND` */
  bumpTokenVersion(id: string, now: number): Promise<number>
}

/** A chain of refresh tokens from one sign-in. Every use rotates the token; reuse of a used one kills the family. */
export interface RefreshFamily {
  readonly id: string
  readonly clientId: string
  readonly userId: string
  /** The user's token version when the family began. */
  readonly userTokenVersion: number
  readonly scope: readonly string[]
  readonly audience: readonly string[]
  readonly createdAt: number
  /** Absolute end of the family, whatever its use. */
  readonly expiresAt: number
  readonly revokedAt?: number
  readonly revokedReason?: string
}

/** One refresh token, known only by the SHA-256 of its value. */
export interface RefreshTokenRecord {
  readonly hash: string
  readonly familyId: string
  readonly createdAt: number
  /** Idle expiry: min(created + idle timeout, family end). */
  readonly expiresAt: number
  readonly usedAt?: number
}

export type RotateOutcome =
  | { readonly kind: 'rotated'; readonly family: RefreshFamily }
  /** The token had been used before: the family is now revoked. */
  | { readonly kind: 'reused'; readonly family: RefreshFamily }
  | { readonly kind: 'invalid'; readonly reason: 'unknown' | 'expired' | 'revoked' }

export interface RefreshTokenStore {
  createFamily(family: RefreshFamily, first: Pick<RefreshTokenRecord, 'hash' | 'expiresAt'>): Promise<void>
  find(hash: string): Promise<{ token: RefreshTokenRecord; family: RefreshFamily } | undefined>
  /**
   * In one transaction: if `hash` is unused, unexpired and its family alive, mark it used and store `next` in the
   * family; if it was used already, revoke the family. Of two concurrent rotations of one token exactly one wins.
   */
  rotate(hash: string, next: Pick<RefreshTokenRecord, 'hash' | 'expiresAt'>, now: number): Promise<RotateOutcome>
  /** @returns false if there was no live family with that id. */
  revokeFamily(id: string, reason: string, now: number): Promise<boolean>
  /** Revokes every live family of a user. @returns how many. */
  revokeUserFamilies(userId: string, reason: string, now: number): Promise<number>
}

/** Revoked access-token `jti`s, each kept until the token's own expiry. */
export interface AccessTokenRevocations {
  revoke(jti: string, expiresAt: number): Promise<void>
  isRevoked(jti: string): Promise<boolean>
}

/** `jti`s of client assertions (RFC 7523 `private_key_jwt`) already used, each kept until the assertion expires. */
export interface AssertionReplayStore {
  /**
   * Records that `clientId` used assertion `jti`, atomically.
   * @returns false if that client had used the jti before (a replay).
   */
  use(clientId: string, jti: string, expiresAt: number): Promise<boolean>
}

/**
 * Fixed-window event counters shared by every process on the store (failed authentications, for throttling).
 * Keys are opaque; callers hash anything a client chose.
 */
export interface CounterStore {
  /**
   * Counts one event under `key`, atomically: starts a new window of `windowMs` if none is running at `now`.
   * @returns the count in the current window (this event included) and when the window ends.
   */
  hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>
}

/** Everything keyturn keeps, behind one handle. */
export interface Store {
  readonly kind: 'local' | 'postgres'
  readonly keys: KeySetStore
  readonly clients: ClientStore
  readonly users: UserStore
  readonly refreshTokens: RefreshTokenStore
  readonly revocations: AccessTokenRevocations
  readonly assertions: AssertionReplayStore
  readonly counters: CounterStore
  /** Deletes expired refresh families and tokens, revoked jtis, assertion jtis and counter windows. @returns rows removed. */
  purgeExpired(now: number): Promise<number>
  /** Throws if the store cannot be reached (for `/readyz`). */
  ping(): Promise<void>
  close(): Promise<void>
}
