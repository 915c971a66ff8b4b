/**
 * Forwarding a request to the node that owns its session (cookie-less clients land anywhere). The
 * owner's answer, SSE streams included, is relayed chunk by chunk with backpressure: when the client
 * socket is full the upstream is paused until uWS reports it writable again.
 */
import { Agent, request, STATUS_CODES, type IncomingMessage } from 'node:http';
import type { HttpResponse } from 'uWebSockets.js';
import { log } from '../log.js';
import { Bodies } from '../protocol/jsonrpc.js';
import { writeJson } from './http.js';
import { M_OTHER } from '../metrics/metrics.js';
import type { FrontState } from './state.js';

/** Marks a forwarded request so that the owner never forwards it again. */
export const FORWARDED_HEADER = 'x-mcp-forwarded-by';

const agent = new Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 256, timeout: 0 });

/** Response headers relayed to the client; hop-by-hop and framing headers are uWS's own. */
const RELAYED = ['content-type', 'mcp-session-id', 'cache-control', 'allow', 'x-accel-buffering'];

/** Relayed SSE streams in flight, so a draining node can end them cleanly (with `retry:`). */
interface Relay {
  res: HttpResponse;
  end(retryMs: number): void;
}
const relays = new Set<Relay>();

/**
 * Ends every relayed SSE stream with `retry:`: the client reconnects (with Last-Event-ID) through the
 * load balancer, which by then sends it to a live node that relays to the owner. Without this, the
 * streams would be cut when the draining process exits.
 */
export function endRelayedStreams(retryMs: number): number {
  const n = relays.size;
  for (const r of [...relays]) r.end(retryMs);
  return n;
}

export interface ForwardRequest {
  method: 'POST' | 'GET' | 'DELETE';
  /** host:port of the owner. */
  address: string;
  /** Request headers to pass on (lower-case names, only those that are set). */
  headers: Record<string, string>;
  body: string | null;
  /** Metrics index of the JSON-RPC method, for the 404 answered when the owner is unreachable. */
  metricsMethod?: number;
}

/** Request headers a forwarded request carries over. */
export const PASSED = ['host', 'origin', 'accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'] as const;

/**
 * Relays `fr` to its owner and the answer back to `res`. The caller has read the request already;
 * `res.onAborted` is (re)bound here, so call it synchronously from the handler or after the body.
 */
export function forward(st: FrontState, res: HttpResponse, fr: ForwardRequest, alreadyAborted: () => boolean, attempt = 0): void {
  if (attempt === 0) st.metrics.forwarded.inc();
  const colon = fr.address.lastIndexOf(':');
  let aborted = alreadyAborted();
  let started = false;
  let upstream: IncomingMessage | null = null;
  const headers: Record<string, string> = { ...fr.headers, [FORWARDED_HEADER]: st.config.nodeId };
  if (fr.body !== null) headers['content-length'] = String(Buffer.byteLength(fr.body));
  const req = request({
    host: fr.address.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(fr.address.slice(colon + 1)),
    method: fr.method,
    path: '/mcp',
    headers,
    agent,
  });
  res.onAborted(() => {
    aborted = true;
    unrelay();
    req.destroy();
    upstream?.destroy();
  });
  if (aborted) {
    req.destroy();
    return;
  }
  let relay: Relay | null = null;
  const unrelay = (): void => {
    if (relay) relays.delete(relay);
  };
  req.on('response', (ur) => {
    upstream = ur;
    if (aborted) return void ur.destroy();
    started = true;
    if (String(ur.headers['content-type'] ?? '').startsWith('text/event-stream')) {
      relay = {
        res,
        end(retryMs: number): void {
          unrelay();
          if (aborted) return;
          aborted = true;
          ur.destroy();
          res.cork(() => {
            res.write(`retry: ${retryMs}\n\n`);
            res.end();
          });
        },
      };
      relays.add(relay);
    }
    res.cork(() => {
      res.writeStatus(`${ur.statusCode} ${STATUS_CODES[ur.statusCode ?? 500] ?? ''}`);
      for (const name of RELAYED) {
        const v = ur.headers[name];
        if (typeof v === 'string') res.writeHeader(name, v);
      }
    });
    ur.on('data', (chunk: Buffer) => {
      if (aborted) return;
      let ok = true;
      res.cork(() => {
        ok = res.write(chunk);
      });
      if (!ok) {
        st.metrics.sseBackpressure.inc();
        ur.pause();
        res.onWritable(() => {
          ur.resume();
          return true;
        });
      }
    });
    ur.on('end', () => {
      unrelay();
      if (!aborted) res.cork(() => res.end());
      aborted = true;
    });
    ur.on('error', () => {
      unrelay();
      if (!aborted) res.cork(() => res.end());
      aborted = true;
    });
  });
  req.on('error', (err: NodeJS.ErrnoException) => {
    if (aborted) return;
    // A pooled keep-alive socket the owner closed as idle (uWS does after 10 s) just as we reused
    // it: the owner never saw the request, so it is safe to send once more on a fresh socket.
    if (!started && attempt === 0 && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
      forward(st, res, fr, () => aborted, 1);
      return;
    }
    aborted = true;
    if (started) {
      res.cork(() => res.end());
      return;
    }
    // The owner went away between the directory's last heartbeat and now: the session is gone, and
    // 404 is what makes the client re-initialize.
    log.warn('forwarding failed; answering 404', { address: fr.address, err: err.message });
    res.cork(() => writeJson(res, 404, Bodies.sessionNotFound));
    st.metrics.request(fr.metricsMethod ?? M_OTHER, 404, -1);
  });
  req.end(fr.body ?? undefined);
}
