/**
 * The three measured scenarios. Each starts a fresh server, measures, and stops it (also on error).
 * Response bodies are checked before, during (a sample, see load.ts and wrk.ts) and after each load;
 * a contender that must answer as our node does (bare-uws) is checked byte for byte before each.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startContender, type ContenderSpec } from './contenders.js';
import { captureExchange, exchangeDifferences } from './exchange.js';
import { runLoad, type BodyValidator, type LoadResult } from './load.js';
import {
  checkEcho,
  keepAliveAgent,
  openSession,
  openSessions,
  parseTarget,
  POST_HEADERS,
  PROTOCOL_VERSION,
  requestHeaders,
  resultText,
  initializeBody,
  toolsCallBody,
  type RpcMessage,
} from './mcp-client.js';
import type { BenchOptions } from './options.js';
import { rssKiB, type Spawned } from './processes.js';
import { runWrk, type WrkResult } from './wrk.js';

export const ECHO_TEXT = 'hello from the benchmark';
const CLIENT_NAME = 'bench';

export type Progress = (line: string) => void;

async function withServer<T>(spec: ContenderSpec, fn: (s: Spawned) => Promise<T>): Promise<T> {
  const server = await startContender(spec);
  try {
    if (spec.sameAs) {
      const differences = exchangeDifferences(spec.sameAs, await captureExchange(server.url));
      if (differences.length) throw new Error(`${spec.name} does not answer as our node does:\n  ${differences.join('\n  ')}`);
    }
    return await fn(server);
  } catch (err) {
    const tail = server.tail.length ? `\nserver output:\n${server.tail.join('\n')}` : '';
    throw new Error(`${(err as Error).message}${tail}`, { cause: err });
  } finally {
    await server.stop();
  }
}

/** JSON-RPC 2.0 with a result that `check` accepts (a body is one JSON answer: both servers reply JSON here). */
function validator(check: (m: RpcMessage) => string | null): BodyValidator {
  return (body) => {
    let m: RpcMessage;
    try {
      m = JSON.parse(body) as RpcMessage;
    } catch {
      return 'not JSON';
    }
    if (m === null || typeof m !== 'object' || m.jsonrpc !== '2.0') return 'not JSON-RPC 2.0';
    if (m.error !== undefined) return 'a JSON-RPC error';
    if (typeof m.id !== 'string' && typeof m.id !== 'number') return 'no id';
    return check(m);
  };
}

const ECHO_OK = validator((m) => (resultText(m) === ECHO_TEXT ? null : 'echo text missing'));
const INIT_OK = validator((m) => {
  const r = m.result as { protocolVersion?: unknown; serverInfo?: { name?: unknown } } | undefined;
  return r?.protocolVersion === PROTOCOL_VERSION && typeof r?.serverInfo?.name === 'string' ? null : 'no protocolVersion or serverInfo';
});
/** The same checks in wrk's Lua: fragments of the compact JSON both servers write. */
const ECHO_FRAGMENTS = ['"jsonrpc":"2.0"', `"text":${JSON.stringify(ECHO_TEXT)}`];
const INIT_FRAGMENTS = ['"jsonrpc":"2.0"', `"protocolVersion":"${PROTOCOL_VERSION}"`, '"serverInfo"'];

export interface ToolsRun extends LoadResult {
  /** Echo still answered correctly after the run. */
  checkedAfter: boolean;
  wrk?: WrkResult;
}

/** tools/call echo on ONE session; every request gets its own JSON-RPC id. */
export function toolsCall(spec: ContenderSpec, o: BenchOptions): Promise<ToolsRun> {
  return withServer(spec, async (server) => {
    const agent = keepAliveAgent();
    const target = parseTarget(server.url);
    try {
      const { sid } = await openSession(agent, target, CLIENT_NAME);
      await checkEcho(agent, target, sid, ECHO_TEXT);
      const load = {
        url: server.url,
        headers: requestHeaders(sid),
        body: toolsCallBody('[<id>]', 'echo', { text: ECHO_TEXT }),
        connections: o.connections,
        serverPid: server.pid,
        checkEvery: o.checkEvery,
      };
      if (o.warmup > 0) await runLoad({ ...load, duration: o.warmup, validate: ECHO_OK });
      const result = await runLoad({ ...load, duration: o.duration, validate: ECHO_OK });
      await checkEcho(agent, target, sid, ECHO_TEXT);
      const run: ToolsRun = { ...result, checkedAfter: true };
      if (o.wrk) {
        run.wrk = await runWrk({ ...load, duration: o.duration, threads: o.wrkThreads, expect: ECHO_FRAGMENTS });
        await checkEcho(agent, target, sid, ECHO_TEXT);
      }
      return run;
    } finally {
      agent.destroy();
    }
  });
}

export interface InitRun extends LoadResult {
  /** The same load from wrk, on a fresh server of its own (sessions pile up in this scenario). */
  wrk?: WrkResult;
}

/** Every request an initialize without a session id: one new session per request. */
export async function initialize(spec: ContenderSpec, o: BenchOptions): Promise<InitRun> {
  const base = { headers: { ...POST_HEADERS }, body: initializeBody(CLIENT_NAME, 1), connections: o.connections, checkEvery: o.checkEvery };
  const run: InitRun = await withServer(spec, async (server) => {
    const load = { ...base, url: server.url, serverPid: server.pid, validate: INIT_OK };
    if (o.warmup > 0) await runLoad({ ...load, duration: o.warmup });
    return runLoad({ ...load, duration: o.duration });
  });
  if (o.wrk) {
    run.wrk = await withServer(spec, async (server) => {
      const load = { ...base, url: server.url, serverPid: server.pid, threads: o.wrkThreads, expect: INIT_FRAGMENTS };
      if (o.warmup > 0) await runWrk({ ...load, duration: o.warmup });
      return runWrk({ ...load, duration: o.duration });
    });
  }
  return run;
}

export interface RssRun {
  sessions: number;
  rssStartKiB: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  /** (after - before) / sessions, KiB. */
  kbPerSession: number;
  /** Seconds to open the sessions (initialize + notifications/initialized each). */
  openSeconds: number;
  openRate: number;
  /** The first and last session still answer tools/call after the second reading. */
  alive: boolean;
}

const RSS_WARMUP_SESSIONS = 256;

/** RSS per idle session: warm up, read RSS, open `sessions` sessions, settle, read RSS again. */
export function rssPerSession(spec: ContenderSpec, o: BenchOptions, progress: Progress): Promise<RssRun> {
  return withServer(spec, async (server) => {
    const agent = keepAliveAgent(o.sessionConcurrency);
    const target = parseTarget(server.url);
    try {
      const rssStartKiB = rssKiB(server.pid);
      const warm = await openSessions(agent, target, CLIENT_NAME, Math.min(RSS_WARMUP_SESSIONS, o.sessions), o.sessionConcurrency);
      await checkEcho(agent, target, warm[0], ECHO_TEXT);
      await sleep(Math.max(1000, o.settle * 1000));
      const rssBeforeKiB = rssKiB(server.pid);
      const t0 = performance.now();
      const ids = await openSessions(agent, target, CLIENT_NAME, o.sessions, o.sessionConcurrency, (n) => {
        if (n % 5000 === 0) progress(`    ${spec.name}: ${n}/${o.sessions} sessions open`);
      });
      const openSeconds = (performance.now() - t0) / 1000;
      await sleep(o.settle * 1000);
      const rssAfterKiB = rssKiB(server.pid);
      await checkEcho(agent, target, ids[0], ECHO_TEXT);
      await checkEcho(agent, target, ids[ids.length - 1], ECHO_TEXT);
      return {
        sessions: o.sessions,
        rssStartKiB,
        rssBeforeKiB,
        rssAfterKiB,
        kbPerSession: (rssAfterKiB - rssBeforeKiB) / o.sessions,
        openSeconds,
        openRate: o.sessions / openSeconds,
        alive: true,
      };
    } finally {
      agent.destroy();
    }
  });
}
