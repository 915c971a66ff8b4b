/**
 * The piscina task that hosts sessions. The front starts exactly one per worker thread; it receives a
 * MessagePort and serves every session of this worker over it until the port closes. If this task
 * rejects, the worker died: its sessions are gone and the front starts a replacement.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, McpRuntimeError } from '../src/errors.js';
import { HB_TAKEN, type HostTaskData, type ToFront, type ToWorker } from '../src/pool/messages.js';
import { BatchChannel, EAGER_BATCH } from '../src/pool/channel.js';
import { encodeToFront, unpack, type WireBatch } from '../src/pool/wire.js';
import type { RegisterFn } from './api.js';
import { Definitions } from './definitions.js';
import { SessionWorker } from './dispatch.js';
import { ModernDispatcher } from './modern.js';
import { ModernHost } from './modern-host.js';
import { createRequestStateSealer } from '../src/cluster/request-state.js';
import { containFaults } from './faults.js';
import { startWatch } from './watch.js';
import { configureLog } from '../src/log.js';

async function loadDefinitions(tools: string | null): Promise<Definitions> {
  const defs = new Definitions();
  const url = tools ? pathToFileURL(resolve(tools)).href : new URL('./everything.js', import.meta.url).href;
  let mod: { default?: unknown; register?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown; register?: unknown };
  } catch (err) {
    throw new McpRuntimeError(ErrorCodes.MCP_ERR_TOOLS_MODULE, `cannot load tools module ${tools}: ${(err as Error).message}`);
  }
  const register = (typeof mod.default === 'function' ? mod.default : mod.register) as RegisterFn | undefined;
  if (typeof register !== 'function') {
    throw new McpRuntimeError(ErrorCodes.MCP_ERR_TOOLS_MODULE, `tools module ${tools} must export a default function register(server)`);
  }
  await register(defs);
  return defs;
}

/** What a host task resolves with: it ended because its port closed, or it could not start. */
export type HostResult = 'closed' | { fatal: { code: string; message: string } };

export default async function host(data: HostTaskData): Promise<HostResult> {
  const { port } = data;
  // This thread's own instance of the log module: same level and node id as the front's lines.
  configureLog(data.logLevel, { node: data.nodeId });
  let defs: Definitions;
  try {
    defs = await loadDefinitions(data.tools);
  } catch (err) {
    // Resolved, not thrown: an error crossing threads loses its code, and a message on the port
    // could arrive after the task's end.
    return { fatal: { code: (err as { code?: string }).code ?? ErrorCodes.MCP_ERR_TOOLS_MODULE, message: (err as Error).message } };
  }
  const out = new BatchChannel<ToFront>(port, EAGER_BATCH, encodeToFront);
  const worker = new SessionWorker(out, defs, {
    sessionIdleMs: data.sessionIdleMs,
    sseRetryMs: data.sseRetryMs,
    replayEvents: data.replayEvents,
    requestTimeoutMs: data.requestTimeoutMs,
    handlerTimeoutMs: data.handlerTimeoutMs,
    slot: data.slot,
    keptStreams: 16,
    metrics: data.metrics,
  });
  const sealer = createRequestStateSealer(data.requestStateKey, { ttlMs: data.requestStateTtlMs });
  const dispatcher = new ModernDispatcher(defs, sealer, {
    handlerTimeoutMs: data.handlerTimeoutMs,
    listCache: { ttlMs: data.listTtlMs, cacheScope: 'private' },
    readCache: { ttlMs: data.readTtlMs, cacheScope: 'private' },
    onToolCall: (name, isError, started) => worker.metrics.toolCall(name, isError, started),
    onStateRefused: () => worker.metrics.stateRefused(),
    onTimeout: (requestId, message) => worker.handlerTimedOut(requestId, message),
  });
  const modern = new ModernHost(out, dispatcher);
  worker.modern = modern;
  const release = containFaults(worker.faults);
  const stopWatch = startWatch(data.heartbeat, data.heartbeatMs, data.maxHeapMb, data.slot);
  return new Promise((done) => {
    const heartbeat = data.heartbeat;
    port.on('message', (raw: WireBatch<ToWorker>) => {
      const batch = unpack(raw);
      try {
        worker.onBatch(batch);
      } finally {
        Atomics.add(heartbeat, HB_TAKEN, batch.length);
      }
    });
    port.on('close', () => {
      stopWatch();
      worker.stop();
      modern.stop();
      release();
      done('closed');
    });
    port.start();
    const toolScopes = defs.toolScopes();
    const toolHeaders = defs.toolHeaderFlags();
    out.push(
      toolScopes === null ? { type: 'ready', slot: data.slot, toolHeaders } : { type: 'ready', slot: data.slot, toolScopes, toolHeaders },
    );
  });
}
