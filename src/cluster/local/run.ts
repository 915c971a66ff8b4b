/**
 * `npm run cluster -- --nodes 3 --base-port 3001 --lb-port 8080 --redis-port 6380`
 * Redis, N nodes and HAProxy in the foreground; Ctrl-C or SIGTERM stops everything it started.
 * Other flags: --workers N (per node, default 1), --logs (print node logs), --owner-routing on|off
 * (HAProxy routes on the session id's owner tag; default on), --auth-issuer URL[,URL] and
 * --auth-scopes "a b" (authorization on every node, tokens for the balancer's /mcp URL).
 */
import { parseArgs } from 'node:util';
import { startCluster } from './cluster.js';

const INTEGER_FLAGS = { nodes: 3, 'base-port': 3001, 'lb-port': 8080, 'redis-port': 6380, workers: 1 } as const;
type IntegerFlag = keyof typeof INTEGER_FLAGS;

const USAGE =
  'usage: npm run cluster -- [--nodes N] [--base-port P] [--lb-port P] [--redis-port P] [--workers N] [--owner-routing on|off] [--auth-issuer URL] [--auth-scopes S] [--logs]\n';

function readFlags(): {
  ints: Record<IntegerFlag, number>;
  logs: boolean;
  ownerRouting: boolean;
  auth: { issuer: string; scopes?: string } | undefined;
} {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        ...Object.fromEntries(Object.keys(INTEGER_FLAGS).map((k) => [k, { type: 'string' as const }])),
        logs: { type: 'boolean' },
        'owner-routing': { type: 'string' },
        'auth-issuer': { type: 'string' },
        'auth-scopes': { type: 'string' },
      },
      strict: true,
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const ints = { ...INTEGER_FLAGS } as Record<IntegerFlag, number>;
  for (const name of Object.keys(INTEGER_FLAGS) as IntegerFlag[]) {
    const raw = (parsed.values as Record<string, string | boolean | undefined>)[name];
    if (raw === undefined) continue;
    const v = Number(raw);
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(v)) {
      process.stderr.write(`invalid --${name} ${String(raw)}: expected an integer\n`);
      process.exit(2);
    }
    ints[name] = v;
  }
  const routing = parsed.values['owner-routing'] ?? 'on';
  if (routing !== 'on' && routing !== 'off') {
    process.stderr.write(`invalid --owner-routing ${routing}: expected on or off\n${USAGE}`);
    process.exit(2);
  }
  const issuer = parsed.values['auth-issuer'];
  const scopes = parsed.values['auth-scopes'];
  if (scopes !== undefined && issuer === undefined) {
    process.stderr.write(`--auth-scopes needs --auth-issuer\n${USAGE}`);
    process.exit(2);
  }
  const auth = issuer === undefined ? undefined : { issuer, scopes };
  return { ints, logs: parsed.values.logs === true, ownerRouting: routing === 'on', auth };
}

const { ints, logs, ownerRouting, auth } = readFlags();
const started = await startCluster({
  nodes: ints.nodes,
  basePort: ints['base-port'],
  lbPort: ints['lb-port'],
  redisPort: ints['redis-port'],
  workers: ints.workers,
  ownerRouting,
  auth,
  nodeOutput: logs ? 'inherit' : 'ignore',
  say: (line) => process.stdout.write(`${line}\n`),
}).catch((err: Error) => {
  process.stderr.write(`cluster failed to start: ${err.message}\n`);
  process.exit(1);
});
process.stdout.write('cluster up; Ctrl-C stops it\n');

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  process.stdout.write('stopping cluster...\n');
  started.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
