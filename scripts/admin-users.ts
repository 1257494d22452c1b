import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import { KeyturnError } from '../src/errors.js'
import type { UserRecord } from '../src/store/types.js'
import { hashPassword, normalizePassword } from '../src/users/password.js'
import { newUserId, parseClaims, validateUsername } from '../src/users/user.js'
import { iso, openCli, table, UsageError } from './cli.js'

export const USERS_USAGE = `usage: npm run admin -- users <command> [options]

  users create <username> [--claim k=v]...
                                    add a user; the password is read from stdin (first line) or prompted for
  users set-password <username>     new password (read the same way); ends every session of the user
  users disable <username> | enable <username>
                                    disable also ends every session
  users sign-out-everywhere <username>
                                    bump the token version and end every refresh-token family
  users set-claims <username> [--claim k=v]...
                                    replace the claims copied into the user's tokens (none clears them)
  users list                        every user (never a password hash)
  users show <username>

  --claim name=value sets a string; name:=json any JSON value; a name given twice becomes an array.
  Passwords never go on the command line (argv is visible to every user of the machine and kept in shell
  history): pipe the password on stdin, e.g. \`printf '%s\\n' "$PW" | npm run admin -- users create alice\`.
  --json prints machine-readable output.`

const COMMANDS = ['create', 'set-password', 'disable', 'enable', 'sign-out-everywhere', 'set-claims', 'list', 'show']
const MAX_STDIN_LINE = 64 * 1024

/** What a command prints about a user: never the password hash. */
function summary(user: UserRecord): Omit<UserRecord, 'passwordHash'> {
  const { passwordHash: _hidden, ...visible } = user
  return visible
}

/** Runs `users <command>`; `args` are the arguments after `admin` (area included). */
export async function usersCommand(args: readonly string[]): Promise<void> {
  if (args.some((arg) => /^--?password(=|$)/.test(arg))) {
    throw new UsageError('there is no --password option: a password in argv is visible to every user of this machine (ps, /proc) '
      + 'and stays in shell history. Pipe it on stdin instead, or run the command in a terminal to be prompted.')
  }
  let parsed
  try {
    parsed = parseArgs({
      args: [...args], allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, claim: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USERS_USAGE}`)
  }
  const { values, positionals } = parsed
  const [, command, username, ...extra] = positionals
  if (values.help || command === undefined) {
    process.stdout.write(`${USERS_USAGE}\n`)
    if (!values.help) throw new UsageError('name a users command')
    return
  }
  if (extra.length > 0) throw new UsageError(`users ${command}: unexpected ${JSON.stringify(extra.join(' '))}`)
  const out = (json: unknown, text: string): void => {
    process.stdout.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`)
  }
  const needName = (): string => {
    if (!username) throw new UsageError(`users ${command} needs a username`)
    return username
  }
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}\n${USERS_USAGE}`)
  if (values.claim !== undefined && command !== 'create' && command !== 'set-claims') throw new UsageError(`users ${command} takes no --claim`)

  const { config, runtime } = await openCli()
  const { users, refreshTokens } = runtime.store
  const existing = async (name: string): Promise<UserRecord> => {
    const user = await users.getByUsername(name)
    if (!user) throw new KeyturnError('ERR_USER_NOT_FOUND', `no user ${name}`)
    return user
  }
  const endSessions = async (user: UserRecord, reason: string, now: number): Promise<{ tokenVersion: number; sessionsEnded: number }> => ({
    tokenVersion: await users.bumpTokenVersion(user.id, now),
    sessionsEnded: await refreshTokens.revokeUserFamilies(user.id, reason, now),
  })

  switch (command) {
    case 'create': {
      const name = validateUsername(needName())
      const claims = parseClaims(values.claim ?? [])
      const clash = await users.getByUsername(name)
      if (clash) throw userExists(name, clash)
      const passwordHash = await hashPassword(await readNewPassword(), config.passwordHashCost)
      const now = Date.now()
      const user: UserRecord = { id: newUserId(), username: name, passwordHash, claims, disabled: false, tokenVersion: 0, createdAt: now, updatedAt: now }
      try {
        await users.create(user)
      } catch (error) {
        // Another admin may have taken the name while we hashed.
        const winner = (error as KeyturnError).code === 'ERR_USER_EXISTS' ? await users.getByUsername(name) : undefined
        throw winner ? userExists(name, winner) : error
      }
      return out(summary(user), `user ${user.username} created (id ${user.id})`)
    }
    case 'set-password': {
      const user = await existing(needName())
      const passwordHash = await hashPassword(await readNewPassword(), config.passwordHashCost)
      const now = Date.now()
      await users.update({ ...user, passwordHash, updatedAt: now })
      const ended = await endSessions(user, 'password-changed', now)
      return out({ id: user.id, username: user.username, ...ended },
        `password changed for ${user.username}; ${sessions(ended.sessionsEnded)} ended (token version ${ended.tokenVersion})`)
    }
    case 'disable':
    case 'enable': {
      const user = await existing(needName())
      const now = Date.now()
      await users.update({ ...user, disabled: command === 'disable', updatedAt: now })
      const sessionsEnded = command === 'disable' ? await refreshTokens.revokeUserFamilies(user.id, 'user-disabled', now) : 0
      return out({ id: user.id, username: user.username, disabled: command === 'disable', sessionsEnded },
        `user ${user.username} ${command}d${command === 'disable' ? `; ${sessions(sessionsEnded)} ended` : ''}`)
    }
    case 'sign-out-everywhere': {
      const user = await existing(needName())
      const ended = await endSessions(user, 'signed-out-everywhere', Date.now())
      return out({ id: user.id, username: user.username, ...ended },
        `${user.username} signed out everywhere: ${sessions(ended.sessionsEnded)} ended (token version ${ended.tokenVersion})`)
    }
    case 'set-claims': {
      const user = await existing(needName())
      const claims = parseClaims(values.claim ?? [])
      await users.update({ ...user, claims, updatedAt: Date.now() })
      return out({ id: user.id, username: user.username, claims }, `claims of ${user.username}: ${JSON.stringify(claims)}`)
    }
    case 'list': {
      if (username !== undefined) throw new UsageError('users list takes no username')
      const list = await users.list()
      return out(list.map(summary), table(['USERNAME', 'ID', 'STATUS', 'TOKEN VERSION', 'CREATED'], list.map((user) => [
        user.username, user.id, user.disabled ? 'disabled' : 'enabled', String(user.tokenVersion), iso(user.createdAt),
      ])))
    }
    case 'show': {
      const user = await existing(needName())
      return out(summary(user), JSON.stringify(summary(user), null, 2))
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}\n${USERS_USAGE}`)
  }
}

const sessions = (count: number): string => `${count} session${count === 1 ? '' : 's'}`

function userExists(name: string, existing: UserRecord): KeyturnError {
  const same = existing.username === name ? '' : ` (usernames ignore case: it exists as ${existing.username})`
  return new KeyturnError('ERR_USER_EXISTS', `user ${name} already exists${same}`)
}

/**
 * The new password: the first line of stdin when it is a pipe or file (for scripts), else asked twice with echo
 * off. Checked against the password rules before it is hashed; never taken from argv.
 */
async function readNewPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readStdinLine()
  const first = await promptHidden('new password: ')
  normalizePassword(first)
  const second = await promptHidden('again: ')
  if (first !== second) throw new UsageError('the two passwords differ; nothing was changed')
  return first
}

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer)
    size += (chunk as Buffer).length
    if ((chunk as Buffer).includes(0x0a) || size > MAX_STDIN_LINE) break
  }
  // Decoded once, whole: a chunk boundary may split a multi-byte character.
  const buffered = Buffer.concat(chunks)
  const newline = buffered.indexOf(0x0a)
  if (newline < 0 && size > MAX_STDIN_LINE) throw new UsageError('stdin: the password line is too long')
  const line = buffered.subarray(0, newline < 0 ? buffered.length : newline).toString('utf8').replace(/\r$/, '')
  if (line === '') throw new UsageError('stdin: expected the password on the first line, got nothing')
  return line
}

/** Reads one line from the terminal without echoing it; the prompt goes to stderr so stdout stays clean. */
function promptHidden(prompt: string): Promise<string> {
  let muted = false
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stderr.write(chunk as Buffer)
      done()
    },
  })
  const rl = createInterface({ input: process.stdin, output, terminal: true })
  return new Promise<string>((resolve, reject) => {
    let answered = false
    rl.on('SIGINT', () => rl.close())
    rl.on('close', () => {
      process.stderr.write('\n')
      if (!answered) reject(new UsageError('cancelled; nothing was changed'))
    })
    rl.question(prompt, (answer) => {
      answered = true
      resolve(answer)
      rl.close()
    })
    muted = true
  })
}
