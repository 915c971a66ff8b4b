/**
 * The uWebSockets.js application: routes only; the work is in mcp.ts and the node context's pieces. Every route goes
 * through `guarded` (fault.ts): an unexpected error in a handler answers 500 and the node goes on.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import { guarded, internalError } from './fault.js';
import { handleDelete, handleGet, handleMethodNotAllowed, handlePost } from './mcp.js';
import { JSON_TYPE, Status } from './http.js';
import type { NodeContext } from './context.js';
import { headerFault, injectedFault, processFault } from './test-faults.js';
import { serveResourceMetadata } from './auth.js';
import { PRM_MCP_PATH, PRM_PATH } from '../auth/resource-server.js';

const NOT_FOUND_BODY = JSON.stringify({ error: 'Not Found', hint: 'the MCP endpoint is /mcp' });

export type UwsModule = typeof import('uWebSockets.js');

/** Adds the node's routes to `app`. */
export function addRoutes(app: TemplatedApp, st: NodeContext): void {
  const healthBody = JSON.stringify({ status: 'ok', node: st.config.nodeId });
  app.post(
    '/mcp',
    guarded(st, 'post', (res, req) => handlePost(st, res, req)),
  );
  app.get(
    '/mcp',
    guarded(st, 'get', (res, req) => handleGet(st, res, req)),
  );
  app.del(
    '/mcp',
    guarded(st, 'delete', (res, req) => handleDelete(st, res, req)),
  );
  app.any(
    '/mcp',
    guarded(st, 'method_not_allowed', (res) => handleMethodNotAllowed(st, res)),
  );

  if (st.auth !== null) {
    // RFC 9728: the document for resource https://host/mcp is at /.well-known/oauth-protected-resource/mcp;
    // the root path serves it too, for clients that look there first.
    for (const path of [PRM_PATH, PRM_MCP_PATH])
      app.get(
        path,
        guarded(st, 'resource_metadata', (res) => serveResourceMetadata(st, res)),
      );
  }
  app.get(
    '/healthz',
    guarded(st, 'health', (res, req) => {
      res.writeStatus(Status[200]).writeHeader('content-type', JSON_TYPE).end(healthBody);
      if (st.config.testFaults) processFault(headerFault(req));
    }),
  );
  app.get(
    '/readyz',
    guarded(st, 'ready', (res) => {
      const ready = st.readiness.ready();
      const body = st.readiness.body(ready);
      res
        .writeStatus(Status[ready ? 200 : 503])
        .writeHeader('content-type', JSON_TYPE)
        .end(body);
    }),
  );
  app.get(
    '/metrics',
    guarded(st, 'metrics', (res, req) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const fault = st.config.testFaults && headerFault(req) === 'metrics';
      st.scrape
        .text()
        .then((text) => {
          if (fault) throw injectedFault('metrics');
          if (!aborted) res.cork(() => res.writeStatus(Status[200]).writeHeader('content-type', st.metrics.contentType).end(text));
        })
        .catch((err: unknown) => internalError(st, aborted ? null : res, 'metrics', err));
    }),
  );
  app.any(
    '/*',
    guarded(st, 'not_found', (res) => {
      res.writeStatus(Status[404]).writeHeader('content-type', JSON_TYPE).end(NOT_FOUND_BODY);
    }),
  );
}
