/**
 * `npm run cluster -- --nodes 3 --base-port 3001 --lb-port 8080 --redis-port 6380`
 * Redis, N nodes and HAProxy in the foreground; Ctrl-C or SIGTERM stops everything it started.
 * Other flags: --workers N (per node, default 1), --logs (print node logs).
 */
import { startCluster } from './cluster.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) {
    process.stderr.write(`invalid --${name} ${process.argv[i + 1]}: expected an integer\n`);
    process.exit(2);
  }
  return v;
}

const started = await startCluster({
  nodes: flag('nodes', 3),
  basePort: flag('base-port', 3001),
  lbPort: flag('lb-port', 8080),
  redisPort: flag('redis-port', 6380),
  workers: flag('workers', 1),
  nodeOutput: process.argv.includes('--logs') ? 'inherit' : 'ignore',
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
  started.stop().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
