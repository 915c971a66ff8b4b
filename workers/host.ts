/**
 * The piscina task that hosts sessions. The front starts exactly one per worker thread; it receives a
 * MessagePort and serves every session of this worker over it until the port closes. If this task
 * rejects, the worker died: its sessions are gone and the front starts a replacement.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, McpRuntimeError } from '../src/errors.js';
import { F_FATAL, F_READY, type HostTaskData, type ToWorker } from '../src/pool/messages.js';
import type { RegisterFn } from './api.js';
import { Definitions } from './definitions.js';
import { SessionWorker } from './dispatch.js';
import { Outbox } from './outbox.js';

async function loadDefinitions(tools: string | null): Promise<Definitions> {
  const defs = new Definitions();
  const url = tools ? pathToFileURL(resolve(tools)).href : new URL('./everything.js', import.meta.url).href;
  let mod: { default?: unknown; register?: unknown };
  try {
    mod = await import(url);
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

export default async function host(data: HostTaskData): Promise<string> {
  const { port } = data;
  let defs: Definitions;
  try {
    defs = await loadDefinitions(data.tools);
  } catch (err) {
    const code = (err as { code?: string }).code ?? ErrorCodes.MCP_ERR_TOOLS_MODULE;
    port.postMessage([{ k: F_FATAL, code, message: (err as Error).message }]);
    throw err;
  }
  const out = new Outbox(port);
  const worker = new SessionWorker(out, defs, {
    sessionIdleMs: data.sessionIdleMs,
    sseRetryMs: data.sseRetryMs,
    replayEvents: data.replayEvents,
    requestTimeoutMs: data.requestTimeoutMs,
    keptStreams: 16,
    metrics: data.metrics,
  });
  return new Promise((done) => {
    port.on('message', (batch: ToWorker[]) => worker.onBatch(batch));
    port.on('close', () => {
      worker.stop();
      done('closed');
    });
    port.start();
    out.push({ k: F_READY, slot: data.slot });
  });
}
