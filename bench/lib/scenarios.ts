/**
 * The four measured scenarios. Each starts a fresh server, measures, and stops it (also on error).
 * Response bodies are checked before, during (a sample, see load.ts and wrk.ts) and after each load;
 * a contender that must answer as our node does (bare-uws) is checked byte for byte before each.
 */
import type { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startContender, type ContenderSpec, type Started } from './contenders.js';
import { captureExchange, exchangeDifferences } from './exchange.js';
import { runLoad, type BodyValidator, type LoadResult, type LoadSpec } from './load.js';
import {
  checkEcho,
  keepAliveAgent,
  rpcMessage,
  send,
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
  type Target,
} from './mcp-client.js';
import { modernCallBody, modernCallHeaders } from './modern.js';
import type { BenchOptions } from './options.js';
import { rssKiB } from './processes.js';
import { runWrk, type WrkResult } from './wrk.js';

export const ECHO_TEXT = 'hello from the benchmark';
const CLIENT_NAME = 'bench';
const MODERN_CLIENT = { name: CLIENT_NAME, version: '1' };

export type Progress = (line: string) => void;

async function withServer<T>(spec: ContenderSpec, fn: (s: Started) => Promise<T>): Promise<T> {
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
/** A 2026-07-28 result says it is complete (`resultType`), and carries the echo text. */
function modernEchoWrong(m: RpcMessage): string | null {
  if (resultText(m) !== ECHO_TEXT) return 'echo text missing';
  return (m.result as { resultType?: unknown }).resultType === 'complete' ? null : 'resultType is not "complete"';
}
const MODERN_ECHO_OK = validator(modernEchoWrong);
const INIT_OK = validator((m) => {
  const r = m.result as { protocolVersion?: unknown; serverInfo?: { name?: unknown } } | undefined;
  return r?.protocolVersion === PROTOCOL_VERSION && typeof r?.serverInfo?.name === 'string' ? null : 'no protocolVersion or serverInfo';
});
/** The same checks in wrk's Lua: fragments of the compact JSON both servers write. */
const ECHO_FRAGMENTS = ['"jsonrpc":"2.0"', `"text":${JSON.stringify(ECHO_TEXT)}`];
const MODERN_ECHO_FRAGMENTS = [...ECHO_FRAGMENTS, '"resultType":"complete"'];
const INIT_FRAGMENTS = ['"jsonrpc":"2.0"', `"protocolVersion":"${PROTOCOL_VERSION}"`, '"serverInfo"'];

export interface ToolsRun extends LoadResult {
  /** Echo still answered correctly after the run. */
  checkedAfter: boolean;
  wrk?: WrkResult;
}

/** One measured load of calls: warm-up, autocannon, then wrk when enabled; `check` before, between and after. */
async function measureCalls(
  load: Omit<LoadSpec, 'duration' | 'validate'>,
  validate: BodyValidator,
  fragments: readonly string[],
  check: () => Promise<void>,
  o: BenchOptions,
): Promise<ToolsRun> {
  await check();
  if (o.warmup > 0) await runLoad({ ...load, duration: o.warmup, validate });
  const result = await runLoad({ ...load, duration: o.duration, validate });
  await check();
  const run: ToolsRun = { ...result, checkedAfter: true };
  if (o.wrk) {
    run.wrk = await runWrk({ ...load, duration: o.duration, threads: o.wrkThreads, expect: fragments });
    await check();
  }
  return run;
}

/** tools/call echo on ONE session; every request gets its own JSON-RPC id. */
export function toolsCall(spec: ContenderSpec, o: BenchOptions): Promise<ToolsRun> {
  return withServer(spec, async (server) => {
    const agent = keepAliveAgent();
    const target = parseTarget(server.url, server.headers);
    try {
      const { sid } = await openSession(agent, target, CLIENT_NAME);
      const load = {
        url: server.url,
        headers: { ...server.headers, ...requestHeaders(sid) },
        body: toolsCallBody('[<id>]', 'echo', { text: ECHO_TEXT }),
        connections: o.connections,
        serverPid: server.pid,
        checkEvery: o.checkEvery,
      };
      return await measureCalls(load, ECHO_OK, ECHO_FRAGMENTS, () => checkEcho(agent, target, sid, ECHO_TEXT), o);
    } finally {
      agent.destroy();
    }
  });
}

/** One 2026-07-28 echo through node:http; throws unless the answer is a complete result with `text`. */
export async function checkModernEcho(agent: Agent, t: Target, text: string, id: number | string = 'check'): Promise<void> {
  const a = await send(agent, t, 'POST', modernCallHeaders('echo'), modernCallBody(id, 'echo', { text }, MODERN_CLIENT));
  const m = rpcMessage(a);
  const wrong =
    a.error !== '' || a.status !== 200 || m === null || m.id !== id
      ? 'no answer to this request'
      : resultText(m) !== text
        ? 'echo text missing'
        : null;
  const resultType = (m?.result as { resultType?: unknown } | undefined)?.resultType;
  if (wrong !== null || resultType !== 'complete')
    throw new Error(
      `modern echo check failed (${wrong ?? 'resultType is not "complete"'}): ${a.error || `HTTP ${a.status}`}: ${a.body.slice(0, 300)}`,
    );
}

/** 2026-07-28 tools/call echo, no session, as the SDK v2 client sends it; every request gets its own JSON-RPC id. */
export function modernCall(spec: ContenderSpec, o: BenchOptions): Promise<ToolsRun> {
  return withServer(spec, async (server) => {
    const agent = keepAliveAgent();
    const target = parseTarget(server.url, server.headers);
    try {
      const load = {
        url: server.url,
        headers: { ...server.headers, ...modernCallHeaders('echo') },
        body: modernCallBody('[<id>]', 'echo', { text: ECHO_TEXT }, MODERN_CLIENT),
        connections: o.connections,
        serverPid: server.pid,
        checkEvery: o.checkEvery,
      };
      return await measureCalls(load, MODERN_ECHO_OK, MODERN_ECHO_FRAGMENTS, () => checkModernEcho(agent, target, ECHO_TEXT), o);
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
    const load = { ...base, headers: { ...server.headers, ...base.headers }, url: server.url, serverPid: server.pid, validate: INIT_OK };
    if (o.warmup > 0) await runLoad({ ...load, duration: o.warmup });
    return runLoad({ ...load, duration: o.duration });
  });
  if (o.wrk) {
    run.wrk = await withServer(spec, async (server) => {
      const load = {
        ...base,
        headers: { ...server.headers, ...base.headers },
        url: server.url,
        serverPid: server.pid,
        threads: o.wrkThreads,
        expect: INIT_FRAGMENTS,
      };
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
    const target = parseTarget(server.url, server.headers);
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
