import type { ClientRecord } from '../clients/client.js'
import type { Store, UserRecord } from '../store/types.js'

/** The party a token speaks for (its `sub`): a user, or for a service's own token, a client. */
export type Subject =
  | { readonly kind: 'user'; readonly user: UserRecord }
  | { readonly kind: 'client'; readonly client: ClientRecord }

/**
 * The party `sub` names, if it may still hold tokens: an enabled user, else an enabled client (an exchanged
 * client_credentials token keeps the service as `sub` while `client_id` becomes the exchanging client).
 * @returns undefined for a disabled or deleted party
 */
export async function subjectStanding(store: Pick<Store, 'users' | 'clients'>, sub: string): Promise<Subject | undefined> {
  const user = await store.users.get(sub)
  if (user) return user.disabled ? undefined : { kind: 'user', user }
  const client = await store.clients.get(sub)
  return client && !client.disabled ? { kind: 'client', client } : undefined
}
