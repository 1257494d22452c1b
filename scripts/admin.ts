import { run, UsageError } from './cli.js'
import { clientsCommand, CLIENTS_USAGE } from './admin-clients.js'
import { usersCommand, USERS_USAGE } from './admin-users.js'
import { backupCommand, BACKUP_USAGE } from './admin-backup.js'

const USAGE = `usage: npm run admin -- clients|users|backup <command> [options]

${CLIENTS_USAGE.replace(/^usage: .*\n\n/, '')}

${USERS_USAGE.replace(/^usage: .*\n\n/, '')}

${BACKUP_USAGE.replace(/^usage: .*\n\n/, '')}`

run('admin', async () => {
  const args = process.argv.slice(2)
  // Each area has its own options and module; the area is the first positional.
  const area = args.find((arg) => !arg.startsWith('-'))
  if (area === 'clients') return clientsCommand(args)
  if (area === 'users') return usersCommand(args)
  if (area === 'backup') return backupCommand(args)
  process.stdout.write(`${USAGE}\n`)
  if (area === undefined && (args.includes('--help') || args.includes('-h'))) return
  throw new UsageError(area === undefined ? 'name an area: clients, users or backup' : `unknown area ${JSON.stringify(area)}`)
})
