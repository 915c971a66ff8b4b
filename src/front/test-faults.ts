/**
 * Fault injection, for tests only. With MCP_TEST_FAULTS=1 (config.ts refuses it unless NODE_ENV=test;
 * off by default) a request can make one handler entry of the front throw, so that a test proves
 * through HTTP what the guard (fault.ts) does with an unexpected error. The real inputs that used to
 * throw have been fixed, so a test needs this door; production nodes never open it.
 *
 * - `X-Mcp-Test-Fault: <where>` throws in the handler of that route (`post`, `get`, `delete` on /mcp,
 *   `ready` on /readyz ...; for `metrics`, in the continuation that writes the scrape). On /healthz,
 *   `uncaught` and `rejection` raise a process-level uncaught exception or unhandled rejection once
 *   the request is answered.
 * - A POST body containing `mcp-test-fault:body` throws while the body is handled; a worker reply
 *   containing `mcp-test-fault:worker_message` (a ping whose id carries it) throws while it is
 *   dispatched to its HTTP exchange.
 */
import type { HttpRequest } from 'uWebSockets.js';

export const FAULT_HEADER = 'x-mcp-test-fault';
export const FAULT_MARKER = 'mcp-test-fault:';

export function injectedFault(where: string): Error {
  return new Error(`injected test fault (${where})`);
}

/** The fault a request asks for in its header ('' for none). Call only when testFaults is on. */
export function headerFault(req: HttpRequest): string {
  return req.getHeader(FAULT_HEADER);
}

/** Throws when `text` carries the marker for `where`. Call only when testFaults is on. */
export function textFault(text: string, where: string): void {
  if (text.includes(FAULT_MARKER + where)) throw injectedFault(where);
}

/** Process-level faults: raised outside any handler, after the request that asked was answered. */
export function processFault(kind: string): void {
  if (kind === 'uncaught') {
    setImmediate(() => {
      throw injectedFault('uncaught');
    });
  } else if (kind === 'rejection') {
    void Promise.reject(injectedFault('rejection'));
  }
}
