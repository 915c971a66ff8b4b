/**
 * The three measured scenarios. Each starts a fresh server, measures, and stops it (also on error).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startContender, type ContenderSpec } from './contenders.js';
import { runLoad, type LoadResult } from './load.js';
import { INITIALIZE_BODY, McpClient, POST_HEADERS, sessionHeaders, toolsCallBody } from './mcp-client.js';
import type { BenchOptions } from './options.js';
import { rssKiB, type Spawned } from './processes.js';
import { runWrk, type WrkResult } from './wrk.js';

export const ECHO_TEXT = 'hello from the benchmark';

export type Progress = (line: string) => void;

async function withServer<T>(spec: ContenderSpec, fn: (s: Spawned) => Promise<T>): Promise<T> {
  const server = await startContender(spec);
  try {
    return await fn(server);
  } catch (err) {
    const tail = server.tail.length ? `\nserver output:\n${server.tail.join('\n')}` : '';
    throw new Error(`${(err as Error).message}${tail}`);
  } finally {
    await server.stop();
  }
}

export interface ToolsRun extends LoadResult {
  /** Echo still answered correctly after the run. */
  checkedAfter: boolean;
  wrk?: WrkResult;
}

/** tools/call echo on ONE session; every request gets its own JSON-RPC id. */
export function toolsCall(spec: ContenderSpec, o: BenchOptions): Promise<ToolsRun> {
  return withServer(spec, async (server) => {
    const client = new McpClient(server.url, 4);
    try {
      const sid = await client.openSession();
      await client.checkEcho(sid, ECHO_TEXT);
      const load = {
        url: server.url,
        headers: sessionHeaders(sid),
        body: toolsCallBody('[<id>]', ECHO_TEXT),
        connections: o.connections,
        serverPid: server.pid,
      };
      if (o.warmup > 0) await runLoad({ ...load, duration: o.warmup });
      const result = await runLoad({ ...load, duration: o.duration });
      await client.checkEcho(sid, ECHO_TEXT);
      const run: ToolsRun = { ...result, checkedAfter: true };
      if (o.wrk) {
        run.wrk = await runWrk({ ...load, duration: o.duration, threads: o.wrkThreads });
        await client.checkEcho(sid, ECHO_TEXT);
      }
      return run;
    } finally {
      client.close();
    }
  });
}

export interface InitRun extends LoadResult {
  /** The same load from wrk, on a fresh server of its own (sessions pile up in this scenario). */
  wrk?: WrkResult;
}

/** Every request an initialize without a session id: one new session per request. */
export async function initialize(spec: ContenderSpec, o: BenchOptions): Promise<InitRun> {
  const base = { headers: { ...POST_HEADERS }, body: INITIALIZE_BODY, connections: o.connections };
  const run: InitRun = await withServer(spec, async (server) => {
    const load = { ...base, url: server.url, serverPid: server.pid };
    if (o.warmup > 0) await runLoad({ ...load, duration: o.warmup });
    return runLoad({ ...load, duration: o.duration });
  });
  if (o.wrk) {
    run.wrk = await withServer(spec, async (server) => {
      const load = { ...base, url: server.url, serverPid: server.pid, threads: o.wrkThreads };
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
    const client = new McpClient(server.url, o.sessionConcurrency);
    try {
      const rssStartKiB = rssKiB(server.pid);
      const warm = await client.openSessions(Math.min(RSS_WARMUP_SESSIONS, o.sessions), o.sessionConcurrency);
      await client.checkEcho(warm[0], ECHO_TEXT);
      await sleep(Math.max(1000, o.settle * 1000));
      const rssBeforeKiB = rssKiB(server.pid);
      const t0 = performance.now();
      const ids = await client.openSessions(o.sessions, o.sessionConcurrency, (n) => {
        if (n % 5000 === 0) progress(`    ${spec.name}: ${n}/${o.sessions} sessions open`);
      });
      const openSeconds = (performance.now() - t0) / 1000;
      await sleep(o.settle * 1000);
      const rssAfterKiB = rssKiB(server.pid);
      await client.checkEcho(ids[0], ECHO_TEXT);
      await client.checkEcho(ids[ids.length - 1], ECHO_TEXT);
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
      client.close();
    }
  });
}
