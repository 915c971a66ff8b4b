/**
 * One node: the session pool, the registry, the uWS front, and an orderly shutdown. Used by main.ts
 * and by anything that embeds a node in-process.
 */
import type { us_listen_socket } from 'uWebSockets.js';
import type { NodeOptions } from './config.js';
import { ErrorCodes, McpRuntimeError } from './errors.js';
import { buildApp, type UwsModule } from './front/app.js';
import { dispatchWorkerMessage } from './front/fault.js';
import { createGuard } from './front/guards.js';
import { FrontState } from './front/state.js';
import { routeSlot } from './front/route.js';
import { endRelayedStreams, Forwarder } from './front/forward.js';
import { W_DELETE } from './pool/messages.js';
import { M_GET } from './metrics/metrics.js';
import { createTagger } from './cluster/session-tag.js';
import { RedisDirectory } from './cluster/directory.js';
import { log } from './log.js';
import { Metrics } from './metrics/metrics.js';
import { SessionPool } from './pool/pool.js';
import { createRegistry } from './registry/create.js';
import { MemoryRegistry } from './registry/memory.js';
import type { SessionRegistry } from './registry/registry.js';

export interface RunningNode {
  port: number;
  state: FrontState;
  close(reason?: string): Promise<void>;
}

/** The runtime's version, as reported in mcp_node_info. */
export const VERSION = '0.1.0';

/** Loads uWebSockets.js and refuses the library's slow pure-JS fallback. */
export async function loadUws(maxHeaderBytes: number): Promise<UwsModule> {
  // Read by the native library when it parses requests; larger heads get 431.
  process.env.UWS_HTTP_MAX_HEADERS_SIZE = String(maxHeaderBytes);
  if (/^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? '')) {
    throw new McpRuntimeError(ErrorCodes.MCP_ERR_UWS_FALLBACK, 'UWS_USE_FALLBACK is set: refusing to run on the pure-JS fallback');
  }
  const mod = (await import('uWebSockets.js')) as unknown as { default: UwsModule };
  const uws = mod.default;
  // The native addon exports SSLApp; the fallback does not.
  if (typeof (uws as { SSLApp?: unknown }).SSLApp !== 'function') {
    throw new McpRuntimeError(
      ErrorCodes.MCP_ERR_UWS_FALLBACK,
      'uWebSockets.js native binary did not load (pure-JS fallback active); refusing to start',
    );
  }
  return uws;
}

export async function startNode(config: Readonly<NodeOptions>): Promise<RunningNode> {
  const uws = await loadUws(config.maxHeaderBytes);
  const metrics = new Metrics(
    config.metrics,
    () => state?.streams.size ?? 0,
    () => state !== null && state.ready(),
    config.nodeId,
    VERSION,
  );
  // Until the listen port is known, sessions are recorded in memory; the real registry re-asserts
  // every live session when it connects.
  let registry: SessionRegistry = new MemoryRegistry({ nodeId: config.nodeId, address: `${config.host}:${config.port}` });
  let state: FrontState | null = null;
  const pool = new SessionPool(
    {
      workers: config.workers,
      tools: config.tools,
      nodeId: config.nodeId,
      sessionIdleMs: config.sessionIdleMs,
      replayEvents: config.replayEvents,
      sseRetryMs: config.sseRetryMs,
      requestTimeoutMs: config.requestTimeoutMs,
      metrics: config.metrics,
      handlerTimeoutMs: config.handlerTimeoutMs,
      stallMs: config.workerStallMs,
      maxHeapMb: config.workerMaxHeapMb,
      logLevel: config.logLevel,
    },
    {
      onMessage: (slot, msg) => dispatchWorkerMessage(state!, slot, msg),
      onSlotLost: (slot, sessions, _err, reason) => state!.slotLost(slot, sessions, reason),
      onStall: (slot) => state!.slotStalled(slot),
    },
  );
  state = new FrontState(config, pool, registry, metrics, createGuard(config));
  // Before the node listens: every session it ever mints carries its owner tag.
  if (config.clusterSecret) state.tagger = createTagger(config.clusterSecret, config.nodeId);
  const directory = config.redisUrl
    ? new RedisDirectory(config.redisUrl, config.nodeId, {
        peerAllow: config.peerAllow,
        observer: {
          reaped: (n) => metrics.nodesReaped.inc(n),
          invalidAddress: () => metrics.peerAddressInvalid.inc(),
          rejoined: () => state?.registry.reassert?.(),
        },
      })
    : null;
  const stale = directory ? await directory.clearPreviousLife() : 0;
  if (stale > 0) log.warn('removed session keys left by an earlier process with this NODE_ID', { sessions: stale });
  try {
    await pool.start();
  } catch (err) {
    state.stop();
    await pool.close().catch(() => {});
    await registry.close();
    await directory?.close();
    throw err;
  }

  const app = buildApp(uws, state);
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (ls) => {
      if (ls) resolve(ls);
      else reject(new McpRuntimeError(ErrorCodes.MCP_ERR_LISTEN, `cannot listen on ${config.host}:${config.port}`));
    });
  }).catch(async (err) => {
    state!.stop();
    await pool.close().catch(() => {});
    await registry.close();
    await directory?.close();
    throw err;
  });
  const port = uws.us_socket_local_port(listenSocket);
  try {
    registry = await createRegistry(config, port, { liveSessions: () => state!.routes.keys(), observer: metrics.registryObserver() });
  } catch (err) {
    uws.us_listen_socket_close(listenSocket);
    state.stop();
    await pool.close().catch(() => {});
    await directory?.close();
    throw err;
  }
  state.registry = registry;
  if (directory) {
    directory.selfAddress = config.advertiseAddress || `${config.host}:${port}`;
    state.directory = directory;
    if (state.tagger !== null && config.forward) state.forwarder = new Forwarder(config);
  }

  let closing: Promise<void> | null = null;
  const close = (reason = 'shutdown'): Promise<void> => {
    closing ??= drainAndClose(state!, reason, async () => {
      uws.us_listen_socket_close(listenSocket);
      await pool.close().catch((err) => log.warn('pool close failed', { err }));
    });
    return closing;
  };
  return { port, state, close };
}

/**
 * Drain: fail /readyz at once and take no new sessions (a cluster hands them to a peer). Over the drain
 * window, GET streams are closed with `retry`, spread at random so the reconnection storm is smoothed,
 * and each session ends with its stream unless it still has requests in flight; requests in flight
 * (JSON or SSE POSTs, including ones that arrive during the window for sessions still here) are
 * awaited. At the end of the window, a POST still waiting gets 503 and every stream still open is
 * closed with `retry`. Then the registry forgets every session of this node and flushes, and only when
 * that is complete does the node leave the known-node set (otherwise its peers reap what is left once
 * it stops heart-beating), before it stops serving.
 */
function endSession(st: FrontState, sid: string): void {
  const route = st.routes.get(sid);
  if (route === undefined) return;
  const slot = st.pool.slots[routeSlot(route)];
  st.dropRoute(sid, 'shutdown');
  if (slot) st.pool.send(slot, { k: W_DELETE, sid, reason: 'shutdown' });
}

/** A request of `sid` still waiting for its answer (a JSON POST or a POST's SSE stream). */
function hasRequestInFlight(st: FrontState, sid: string): boolean {
  for (const conn of st.conns.values()) if (conn.sid === sid && conn.method !== M_GET) return true;
  return false;
}

/** Closes every GET stream with `retry` at a random moment of the window (or all at once). */
async function closeStreamsSpread(st: FrontState, window: number): Promise<void> {
  const gets = [...st.streams].filter((c) => c.method === M_GET);
  if (window <= 0 || gets.length === 0) return;
  await new Promise<void>((resolve) => {
    let left = gets.length;
    for (const conn of gets) {
      const delay = st.config.drainJitter ? Math.random() * window : 0;
      setTimeout(() => {
        if (!conn.done) conn.res.cork(() => st.closeStream(conn, st.config.sseRetryMs));
        // The session ends with its stream, so re-initializations spread over the window too instead
        // of bunching at its end; one with a request in flight lives on until that is answered.
        if (!hasRequestInFlight(st, conn.sid)) endSession(st, conn.sid);
        if (--left === 0) resolve();
      }, delay);
    }
  });
}

/** Resolves when no request is in flight any more, or at `deadline`. */
async function settleInFlight(st: FrontState, deadline: number): Promise<void> {
  while (st.requestsInFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
}

const DRAIN_POLL_MS = 20;

async function drainAndClose(st: FrontState, reason: string, stopServing: () => Promise<void>): Promise<void> {
  st.draining = true;
  const window = st.config.drainWindowMs;
  const inFlight = st.requestsInFlight();
  log.info('draining', {
    reason,
    sessions: st.routes.size,
    streams: st.streams.size,
    requestsInFlight: inFlight,
    windowMs: window,
    jitter: st.config.drainJitter,
  });
  await Promise.all([closeStreamsSpread(st, window), settleInFlight(st, Date.now() + window)]);
  const unanswered = st.endAllExchanges();
  if (unanswered > 0) log.warn('requests still in flight at the end of the drain window answered 503', { requests: unanswered });
  const relayed = endRelayedStreams(st);
  if (relayed > 0) log.info("ended relayed streams of other nodes' sessions", { streams: relayed });
  // The registry forgets all of this node's sessions at once in close(); no per-session writes here.
  st.forgetAllRoutes('shutdown');
  st.stop();
  const clean = await st.registry.close();
  if (!clean) log.warn('registry keys of this node could not all be removed; staying listed so that peers reap them');
  await st.directory?.close(clean);
  st.forwarder?.close();
  await stopServing();
  log.info('stopped', { reason });
}
