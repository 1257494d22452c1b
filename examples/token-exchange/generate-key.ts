/**
 * Makes a service's key pair for private_key_jwt. Run after `npm run build`:
 *
 *   node dist/examples/token-exchange/generate-key.js service-a
 *
 * Writes `service-a.private.jwk.json` (mode 0600: the service keeps it, it never leaves the service) and
 * `service-a.jwks.json` (the public JWK set you register with `clients create … --jwks-file`). Prints only the kid.
 */
import { writeFile } from 'node:fs/promises'
import { pathToFileURL } from 'node:url'
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'

/** Generates an ES256 key pair; returns the two file paths and the key id (its RFC 7638 thumbprint). */
export async function generateServiceKey(name: string, dir = '.'): Promise<{ privateFile: string; publicFile: string; kid: string }> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error('name: letters, digits, . _ - only')
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const publicJwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(publicJwk)
  const privateFile = `${dir}/${name}.private.jwk.json`
  const publicFile = `${dir}/${name}.jwks.json`
  // `wx`: never overwrite a key that may already be registered.
  await writeFile(privateFile, `${JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' })}\n`, { mode: 0o600, flag: 'wx' })
  await writeFile(publicFile, `${JSON.stringify({ keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] }, null, 2)}\n`, { flag: 'wx' })
  return { privateFile, publicFile, kid }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const name = process.argv[2]
  if (!name) {
    process.stderr.write('usage: node dist/examples/token-exchange/generate-key.js <service-name>\n')
    process.exit(2)
  }
  generateServiceKey(name).then(
    ({ privateFile, publicFile, kid }) => process.stdout.write(`private key: ${privateFile} (keep it secret)\npublic JWK set: ${publicFile}\nkid: ${kid}\n`),
    (error: Error) => {
      process.stderr.write(`generate-key: ${error.message}\n`)
      process.exit(1)
    },
  )
}
