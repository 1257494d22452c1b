import t from 'tap'
import { MAX_CLAIMS_BYTES, newUserId, parseClaims, RESERVED_CLAIMS, validateClaims } from '../../src/users/user.js'

t.test('parseClaims: accepted forms', async (t) => {
  const cases: [string, string[], Record<string, unknown>][] = [
    ['none', [], {}],
    ['one string', ['team=x'], { team: 'x' }],
    ['a repeated name becomes an array, in order', ['roles=admin', 'roles=ops', 'team=x'], { roles: ['admin', 'ops'], team: 'x' }],
    ['three of a name', ['r=a', 'r=b', 'r=c'], { r: ['a', 'b', 'c'] }],
    ['values are strings, even numeric ones', ['level=3', 'flag=true'], { level: '3', flag: 'true' }],
    ['the value may hold = and :', ['url=https://x.test/?a=b'], { url: 'https://x.test/?a=b' }],
    ['an empty value', ['note='], { note: '' }],
    [':= takes JSON', ['level:=3', 'admin:=true', 'roles:=["one"]', 'meta:={"a":1}'], { level: 3, admin: true, roles: ['one'], meta: { a: 1 } }],
    [':= and = of one name collect', ['roles:=1', 'roles=two'], { roles: [1, 'two'] }],
    ['dots, dashes, underscores', ['_x=1', 'https.example-com_role=a'], { _x: '1', 'https.example-com_role': 'a' }],
    ['64-character name', [`${'a'.repeat(64)}=v`], { ['a'.repeat(64)]: 'v' }],
    ['non-ASCII value', ['team=équipe'], { team: 'équipe' }],
  ]
  for (const [name, args, expected] of cases) t.same(parseClaims(args), expected, name)
})

t.test('parseClaims: refused forms name the claim', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['no =', ['roles'], /"roles"/],
    ['empty name', ['=x'], /"=x"/],
    ['reserved sub', ['sub=alice'], /"sub" is reserved/],
    ['reserved iss', ['iss=x'], /"iss" is reserved/],
    ['reserved scope, JSON form', ['scope:="admin"'], /"scope" is reserved/],
    ['reserved client_id', ['client_id=x'], /"client_id"/],
    ['reserved act', ['act:={"sub":"x"}'], /"act"/],
    ['starts with a digit', ['1x=a'], /"1x"/],
    ['starts with a dash', ['-x=a'], /"-x"/],
    ['space', ['my role=a'], /"my role"/],
    ['colon inside', ['a:b=c'], /"a:b"/],
    ['65 characters', [`${'a'.repeat(65)}=v`], /"a{65}"/],
    ['non-ASCII name', ['rôle=a'], /"rôle"/],
    ['__proto__', ['__proto__=x'], /"__proto__"/],
    ['__proto__ JSON', ['__proto__:={"polluted":true}'], /"__proto__"/],
    ['bad JSON', ['level:=three'], /"level".*JSON/],
    ['too big', ['blob=' + 'x'.repeat(MAX_CLAIMS_BYTES)], /4096 bytes/],
    ['too big together', Array.from({ length: 40 }, (_, i) => `c${i}=${'x'.repeat(100)}`), /4096 bytes/],
  ]
  for (const [name, args, message] of cases) t.throws(() => parseClaims(args), { code: 'ERR_USER_INVALID', message }, name)
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype was touched')
})

t.test('every reserved claim is refused', async (t) => {
  for (const name of RESERVED_CLAIMS) t.throws(() => parseClaims([`${name}=x`]), { code: 'ERR_USER_INVALID' }, name)
})

t.test('claims up to 4 KiB of JSON are fine', async (t) => {
  const value = 'x'.repeat(MAX_CLAIMS_BYTES - '{"blob":""}'.length)
  t.equal(JSON.stringify(parseClaims([`blob=${value}`])).length, MAX_CLAIMS_BYTES)
  t.throws(() => parseClaims([`blob=${value}x`]), { code: 'ERR_USER_INVALID' })
  t.throws(() => parseClaims([`blob=${'é'.repeat(value.length / 2 + 1)}`]), { code: 'ERR_USER_INVALID' }, 'counted in UTF-8 bytes')
})

t.test('validateClaims checks records built in code the same way', async (t) => {
  t.same(validateClaims({ roles: ['a'] }), { roles: ['a'] })
  t.throws(() => validateClaims({ exp: 1 }), { code: 'ERR_USER_INVALID' })
  t.throws(() => validateClaims({ 'bad name': 1 }), { code: 'ERR_USER_INVALID' })
})

t.test('newUserId: opaque, random, usr_ + 128 bits', async (t) => {
  const ids = new Set(Array.from({ length: 1000 }, newUserId))
  t.equal(ids.size, 1000)
  for (const id of [...ids].slice(0, 20)) {
    t.match(id, /^usr_[A-Za-z0-9_-]{22}$/)
    t.equal(Buffer.from(id.slice(4), 'base64url').length, 16)
  }
})
