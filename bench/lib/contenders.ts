/**
 * How each contender is started: our node (metrics on / off) from the product's build output
 * (`node dist/src/main.js`, loading this package's echo tool module), the reference servers on the
 * official SDK 1.x (sdk-reference.ts) and 2.x (sdk-v2.ts, sessions; sdk-v2-cluster.ts, stateless,
 * one process per core) with the same echo tool, and the bare uWebSockets.js ceiling (bare-uws.ts,
 * answering with our node's captured bytes), all listening on 127.0.0.1 port 0. `ours-auth` is our node
 * with authorization on, against a real authorization server started for it (lib/issuer.ts): every
 * request carries the same valid JWT access token, verified once and then served from the node's
 * verified-token cache, so the figure is the cost of authorization on every request.
 */
import { join } from 'node:path';
import type { Exchange } from './exchange.js';
import { BENCH_RESOURCE, BENCH_SCOPE, startIssuer } from './issuer.js';
import type { ContenderName, ScenarioName } from './options.js';
import { startProcess, type Spawned } from './processes.js';
import { BENCH, mainJs } from './product.js';

/** Settings the environment must not leak into a contender (each is set explicitly or left out). */
const SCRUBBED = [
  'PORT',
  'HOST',
  'WORKERS',
  'MCP_TOOLS',
  'MCP_METRICS',
  'LOG_LEVEL',
  'REDIS_URL',
  'NODE_OPTIONS',
  'MCP_AUTH_ISSUER',
  'MCP_PUBLIC_URL',
  'MCP_STATELESS_SPILL',
];

export interface ContenderSpec {
  name: ContenderName;
  /** Working directory: the product's root (or a snapshot of its dist/), or this package. */
  cwd: string;
  args: string[];
  /** Variables set on top of the scrubbed environment. */
  env: Record<string, string>;
  /** Scenarios this contender takes no part in, and why (bare-uws keeps no sessions: no RSS per session). */
  skips?: Partial<Record<ScenarioName, string>>;
  /** Answers this contender must give byte for byte (bare-uws: our node's), checked before each run. */
  sameAs?: Exchange;
  /** Authorization on: an authorization server is started with the contender, and every request carries its token. */
  auth?: boolean;
}

/** A started contender, and the headers every request to it carries (ours-auth: its bearer token). */
export interface Started extends Spawned {
  headers: Readonly<Record<string, string>>;
}

/** A 2025-era reference keeps sessions in one process and has no 2026-07-28 path (sdk-v2-cluster has). */
const SESSIONS_ONLY = '2025-era sessions only; the 2026-07-28 reference is sdk-v2-cluster';
const STATELESS = 'stateless (no 2025 sessions): it takes part in call-modern only';

/**
 * `workers`: our node's `--workers` (null: its default); `sdkWorkers`: sdk-v2-cluster's processes
 * (null: one per core). `root`: where the product runs from (the repository, or a snapshot of its
 * dist/); `reference`: the file with our node's captured answers (lib/exchange.ts), which bare-uws
 * serves.
 */
export function contenderSpec(
  name: ContenderName,
  workers: number | null,
  root: string,
  reference: string,
  sdkWorkers: number | null = null,
): ContenderSpec {
  const ours = (metrics: '1' | '0'): ContenderSpec => ({
    name,
    cwd: root,
    args: [
      mainJs(root),
      '--port',
      '0',
      '--tools',
      join(BENCH, 'dist/tools.js'),
      ...(workers === null ? [] : ['--workers', String(workers)]),
    ],
    // "info" because the listening line (which carries the port) is logged at info.
    // The initialize scenarios open hundreds of thousands of sessions: no session cap (an environment
    // variable, so builds that predate the option run the same command).
    env: { HOST: '127.0.0.1', LOG_LEVEL: 'info', MCP_METRICS: metrics, MCP_MAX_SESSIONS: '100000000' },
  });
  switch (name) {
    case 'ours':
      return ours('1');
    case 'ours-nometrics':
      return ours('0');
    case 'ours-auth': {
      const spec = ours('1');
      return { ...spec, auth: true, env: { ...spec.env, MCP_AUTH_AUDIENCE: BENCH_RESOURCE, MCP_AUTH_SCOPES: BENCH_SCOPE } };
    }
    case 'sdk-v1':
      return {
        name,
        cwd: BENCH,
        args: [join(BENCH, 'dist/sdk-reference.js'), '--port', '0', '--host', '127.0.0.1'],
        env: {},
        skips: { 'call-modern': SESSIONS_ONLY },
      };
    case 'sdk-v2':
      return {
        name,
        cwd: BENCH,
        args: [join(BENCH, 'dist/sdk-v2.js'), '--port', '0', '--host', '127.0.0.1'],
        env: {},
        skips: { 'call-modern': SESSIONS_ONLY },
      };
    case 'sdk-v2-cluster':
      return {
        name,
        cwd: BENCH,
        args: [
          join(BENCH, 'dist/sdk-v2-cluster.js'),
          '--port',
          '0',
          '--host',
          '127.0.0.1',
          ...(sdkWorkers === null ? [] : ['--workers', String(sdkWorkers)]),
        ],
        env: {},
        skips: { tools: STATELESS, init: STATELESS, rss: STATELESS },
      };
    case 'bare-uws':
      return {
        name,
        cwd: BENCH,
        args: [join(BENCH, 'dist/bare-uws.js'), '--port', '0', '--host', '127.0.0.1', '--reference', reference],
        env: {},
        skips: { rss: 'keeps no sessions' },
      };
  }
}

/** The command line, with the machine's paths cut to repository-relative ones (for the result file). */
export function describeContender(spec: ContenderSpec, root: string, reference: string): string {
  return ['node', ...spec.args.map((a) => a.replace(reference, '<captured answers>').replace(root, '').replace(BENCH, 'bench/'))].join(' ');
}

export async function startContender(spec: ContenderSpec): Promise<Started> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of SCRUBBED) delete env[k];
  Object.assign(env, spec.env);
  if (!spec.auth) return { ...(await startProcess({ name: spec.name, args: spec.args, env, cwd: spec.cwd })), headers: {} };
  const issuer = await startIssuer();
  try {
    const token = await issuer.token();
    const server = await startProcess({ name: spec.name, args: spec.args, env: { ...env, MCP_AUTH_ISSUER: issuer.issuer }, cwd: spec.cwd });
    return {
      ...server,
      headers: { authorization: `Bearer ${token}` },
      stop: async () => {
        await server.stop();
        await issuer.stop();
      },
    };
  } catch (err) {
    await issuer.stop();
    throw err;
  }
}
