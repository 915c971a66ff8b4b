/** Static pieces of HTTP responses, built once. */
import type { HttpResponse } from 'uWebSockets.js';

export const Status: Record<number, string> = {
  200: '200 OK',
  202: '202 Accepted',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  406: '406 Not Acceptable',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
};

export const JSON_TYPE = 'application/json';
export const SSE_TYPE = 'text/event-stream';
export const SESSION_HEADER = 'mcp-session-id';
export const ALLOW_MCP = 'GET, POST, DELETE';

/** Writes a whole JSON reply. Call inside a cork when outside the synchronous handler. */
export function writeJson(res: HttpResponse, status: number, body: string, sessionId?: string, closeConnection = false): void {
  res.writeStatus(Status[status] ?? `${status} Unknown`);
  // A 202 has no body, and so no type.
  if (body !== '') res.writeHeader('content-type', JSON_TYPE);
  if (sessionId) res.writeHeader(SESSION_HEADER, sessionId);
  res.end(body, closeConnection);
}

export function sseHeaders(res: HttpResponse): void {
  res.writeStatus('200 OK');
  res.writeHeader('content-type', SSE_TYPE);
  res.writeHeader('cache-control', 'no-cache, no-transform');
  // Disables response buffering in nginx-style proxies.
  res.writeHeader('x-accel-buffering', 'no');
}

/** "id: <eid>\ndata: <json>\n\n"; a priming event is an id with empty data (SEP-1699). */
export function sseEvent(eid: string, body: string): string {
  return eid ? `id: ${eid}\ndata: ${body}\n\n` : `data: ${body}\n\n`;
}

export const HEARTBEAT = ': keep-alive\n\n';

/** "The client MUST include an Accept header, listing both application/json and text/event-stream." */
export function accepts(accept: string, type: string): boolean {
  return accept.includes(type);
}
