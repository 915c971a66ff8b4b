/** The uWebSockets.js application: routes only; the work is in mcp.ts and state.ts. */
import type { TemplatedApp } from 'uWebSockets.js';
import { handleDelete, handleGet, handleMethodNotAllowed, handlePost } from './mcp.js';
import { JSON_TYPE, Status } from './http.js';
import type { FrontState } from './state.js';

const NOT_FOUND_BODY = JSON.stringify({ error: 'Not Found', hint: 'the MCP endpoint is /mcp' });

export type UwsModule = typeof import('uWebSockets.js');

export function buildApp(uws: UwsModule, st: FrontState): TemplatedApp {
  const app = uws.App();
  const healthBody = JSON.stringify({ status: 'ok', node: st.config.nodeId });
  app.post('/mcp', (res, req) => handlePost(st, res, req));
  app.get('/mcp', (res, req) => handleGet(st, res, req));
  app.del('/mcp', (res, req) => handleDelete(st, res, req));
  app.any('/mcp', (res) => handleMethodNotAllowed(st, res));

  app.get('/healthz', (res) => {
    res.writeStatus(Status[200]).writeHeader('content-type', JSON_TYPE).end(healthBody);
  });
  app.get('/readyz', (res) => {
    const ready = st.ready();
    const body = JSON.stringify({
      status: ready ? 'ready' : st.draining ? 'draining' : st.pool.servingCount === 0 ? 'no_worker' : 'starting',
      node: st.config.nodeId,
      workers: st.pool.readyCount,
      // Workers taking no new sessions now (watchdog), and the latest replacements (bounded).
      stalledWorkers: st.pool.slots.filter((x) => x.stalled).map((x) => x.index),
      workerRestarts: st.pool.faults,
      sessions: st.routes.size,
      registry: st.registry.kind === 'memory' ? 'memory' : st.registry.connected ? 'connected' : 'disconnected',
    });
    res.writeStatus(Status[ready ? 200 : 503]).writeHeader('content-type', JSON_TYPE).end(body);
  });
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    st.metricsText().then(
      (text) => {
        if (!aborted) res.cork(() => res.writeStatus(Status[200]).writeHeader('content-type', st.metrics.contentType).end(text));
      },
      () => {
        if (!aborted) res.cork(() => res.writeStatus(Status[500]).end());
      },
    );
  });
  app.any('/*', (res) => {
    res.writeStatus(Status[404]).writeHeader('content-type', JSON_TYPE).end(NOT_FOUND_BODY);
  });
  return app;
}
