/**
 * The per-client limits' hot path, in process over the product's build output (dist/): what a request
 * pays while MCP_RATE_LIMIT or MCP_MAX_SESSIONS_PER_PRINCIPAL is on, beside uWS's own handling.
 *
 *   take, one client            TokenBuckets.take on one identity
 *   take, 10,000 clients        ... cycling over 10,000 identities
 *   take, new clients past cap  ... a new identity every time, beyond the 100,000 tracked
 *   key, untrusted IPv4         clientKey for a peer not in MCP_TRUSTED_PROXIES (X-Forwarded-For unread)
 *   key, dual-stack peer        ... an IPv4 client as a dual-stack listener reports it (mapped, full form)
 *   key, trusted + XFF          ... a trusted peer with `6.6.6.6, 203.0.113.5`
 *   key, trusted + 16 KB junk   ... a trusted peer whose X-Forwarded-For is 16 KB without a comma
 *
 * Each case: a warm-up, then --rounds rounds of --iterations calls; prints ns per call, median
 * [min .. max] over the rounds, and writes <out>/limits-<time>.json with the commit measured (a
 * dirty tree is refused unless --allow-dirty, then flagged).
 *
 *   npm run bench:limits
 *   npm run bench:limits -- --rounds 7 --iterations 2000000
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { codeRoot, importProduct, RESULTS } from './lib/product.js';
import { describeProvenance, errorText, provenance, requireClean } from './lib/provenance.js';
import { spread, type Spread } from './lib/stats.js';

interface Buckets {
  take(key: string): number;
}
interface BucketsModule {
  TokenBuckets: new (rate: number, burst: number, maxIdentities?: number) => Buckets;
  MAX_TRACKED_IDENTITIES: number;
}
interface AddressModule {
  AddressSet: new (entries: readonly string[]) => unknown;
  clientKey(peer: string, trusted: unknown, forwarded: () => string): string;
}

function nsPerCall(iterations: number, fn: (i: number) => unknown): number {
  let sink = 0;
  const t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) if (fn(i) === sink) sink++;
  const ns = Number(process.hrtime.bigint() - t) / iterations;
  return sink < 0 ? -1 : ns;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      iterations: { type: 'string', default: '1000000' },
      out: { type: 'string', default: RESULTS },
      'allow-dirty': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const rounds = Number(values.rounds);
  const iterations = Number(values.iterations);
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(iterations) || iterations < 1000)
    throw new Error('--rounds >= 1 and --iterations >= 1000, integers');
  const code = provenance(values['allow-dirty']);
  requireClean(code);
  const root = codeRoot(false);
  const b = await importProduct<BucketsModule>(root.root, 'src/front/token-bucket.js', ['TokenBuckets', 'MAX_TRACKED_IDENTITIES']);
  const a = await importProduct<AddressModule>(root.root, 'src/front/client-address.js', ['AddressSet', 'clientKey']);

  // A rate no loop can exhaust: every take succeeds, as for a client within its limit.
  const open = new b.TokenBuckets(1e12, 1e12);
  const keys = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const capped = new b.TokenBuckets(1, 1, b.MAX_TRACKED_IDENTITIES);
  let fresh = 0;
  const trusted = new a.AddressSet(['127.0.0.1', '10.0.0.0/8']);
  const junk = 'x'.repeat(16 * 1024);
  const cases: Array<[string, (i: number) => unknown]> = [
    ['take, one client', () => open.take('203.0.113.7')],
    ['take, 10,000 clients', (i) => open.take(keys[i % keys.length])],
    ['take, new clients past cap', () => capped.take(`n${fresh++}`)],
    ['key, untrusted IPv4', () => a.clientKey('198.51.100.9', trusted, () => '')],
    ['key, dual-stack peer', () => a.clientKey('0000:0000:0000:0000:0000:ffff:c633:6409', trusted, () => '')],
    ['key, trusted + XFF', () => a.clientKey('127.0.0.1', trusted, () => '6.6.6.6, 203.0.113.5')],
    ['key, trusted + 16 KB junk', () => a.clientKey('127.0.0.1', trusted, () => junk)],
  ];
  // Fill the capped buckets past the cap first, so that its case measures the steady state.
  for (let i = 0; i < 2 * b.MAX_TRACKED_IDENTITIES; i++) capped.take(`n${fresh++}`);
  const results: Record<string, Spread> = {};
  console.log(`limits hot path, ${describeProvenance(code)}; ns per call, median [min .. max] over ${rounds} rounds of ${iterations}`);
  for (const [name, fn] of cases) {
    nsPerCall(Math.min(iterations, 100_000), fn);
    const ns: number[] = [];
    for (let r = 0; r < rounds; r++) ns.push(nsPerCall(iterations, fn));
    results[name] = spread(ns, 1);
    const s = results[name];
    console.log(`  ${name.padEnd(28)} ${Math.round(s.median)} [${Math.round(s.min)} .. ${Math.round(s.max)}]`);
  }
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `limits-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const report = {
    kind: 'limits-hot-path',
    date: new Date().toISOString(),
    code,
    node: process.version,
    rounds,
    iterations,
    unit: 'ns per call',
    results,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`written ${file}`);
}

main().catch((err: unknown) => {
  console.error(errorText(err));
  process.exit(1);
});
