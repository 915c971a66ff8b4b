/**
 * One batch of registry writes as one Lua call (single Redis server): the session keys' SET … EX and
 * DEL, and the node's session set, in one command. ioredis runs it as EVALSHA (EVAL the first time on
 * each connection, and again after NOSCRIPT, e.g. when Redis restarted empty).
 *
 * Measured here against a pipeline of one SET per session: the same one round trip per batch, about
 * a fifth of the client CPU per session (one ioredis command per batch instead of one per session),
 * for about a quarter more Redis CPU. The front thread pays the client side on every initialize, so
 * the script is the default; a Redis Cluster spreads a batch over slots, which one script cannot span,
 * so it gets pipelines.
 *
 * KEYS[1]             mcp:node:<nodeId>:sessions
 * KEYS[2 .. 1+nset]   session keys to SET
 * KEYS[2+nset ..]     session keys to DEL
 * ARGV[1] ttl (s), ARGV[2] nset, ARGV[3] length of the session key prefix, ARGV[4 .. 3+nset] values
 */
import { SESSION_PREFIX, SESSION_TTL_S } from './keys.js';
import type { WriteBatch } from './write-queue.js';
import { OP_SET } from './write-queue.js';

export const BATCH_COMMAND = 'mcpRegistryBatch';

/** Lua's unpack() has a stack limit; set members go in chunks well below it. */
export const BATCH_SCRIPT = `
local ttl = ARGV[1]
local nset = tonumber(ARGV[2])
local skip = tonumber(ARGV[3]) + 1
local ids = {}
for i = 1, nset do
  local key = KEYS[i + 1]
  redis.call('SET', key, ARGV[i + 3], 'EX', ttl)
  ids[#ids + 1] = string.sub(key, skip)
  if #ids == 1000 then redis.call('SADD', KEYS[1], unpack(ids)) ids = {} end
end
if #ids > 0 then redis.call('SADD', KEYS[1], unpack(ids)) end
if nset > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
ids = {}
for i = nset + 2, #KEYS do
  local key = KEYS[i]
  redis.call('DEL', key)
  ids[#ids + 1] = string.sub(key, skip)
  if #ids == 1000 then redis.call('SREM', KEYS[1], unpack(ids)) ids = {} end
end
if #ids > 0 then redis.call('SREM', KEYS[1], unpack(ids)) end
return nset
`;

/** The script's arguments, numkeys first (as ioredis expects for a command defined without numberOfKeys). */
export function batchScriptArgs(batch: WriteBatch, nodeKey: string, value: (id: string) => string): Array<string | number> {
  const { ids, ops } = batch;
  let nset = 0;
  for (let i = 0; i < ops.length; i++) if (ops[i] === OP_SET) nset++;
  // [numkeys, node key, set keys…, del keys…, ttl, nset, prefix length, values…]
  const args = new Array<string | number>(2 + ids.length + 3 + nset);
  args[0] = 1 + ids.length;
  args[1] = nodeKey;
  let s = 2;
  let d = 2 + nset;
  let v = 2 + ids.length + 3;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (ops[i] === OP_SET) {
      args[s++] = SESSION_PREFIX + id;
      args[v++] = value(id);
    } else args[d++] = SESSION_PREFIX + id;
  }
  const a = 2 + ids.length;
  args[a] = SESSION_TTL_S;
  args[a + 1] = nset;
  args[a + 2] = SESSION_PREFIX.length;
  return args;
}
