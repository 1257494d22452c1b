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

/** Everything keyturn keeps, behind one handle. */
export interface Store {
  readonly kind: 'local'
  readonly keys: KeySetStore
  readonly clients: ClientStore
  /** Throws if the store cannot be reached (for `/readyz`). */
  ping(): Promise<void>
  close(): Promise<void>
}
