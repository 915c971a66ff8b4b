/**
 * Front faults and small leaks, on real nodes:
 * - the front's guard: an unexpected error in any handler entry (route handlers, the body callback,
 *   a worker message's dispatch, the /metrics continuation) answers 500 with a JSON-RPC -32603 body,
 *   is logged once with its stack and counted in mcp_internal_errors_total{where}; process-level
 *   uncaught exceptions and unhandled rejections are logged and counted too, and the node goes on.
 *   The errors are injected (MCP_TEST_FAULTS=1, honoured only with NODE_ENV=test; see
 *   src/front/test-faults.ts): no real input throws any more (test/fuzz.test.ts looks for one);
 * - a body over MAX_BODY gets its 413 to the client (no TCP reset), declared or chunked;
 * - no secret in logs or errors (a REDIS_URL password, the cluster secret), no full session id in
 *   logs (a short hash, sessionRef);
 * - a node bound beyond loopback without MCP_ALLOWED_HOSTS says so at start-up.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialize, metricValue, POST_HEADERS, rpc, runServer, startServer, type LogLine, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

const FAULT = 'x-mcp-test-fault';
const FAULT_MSG = 'internal error; the request failed, the node goes on';

function sessionRef(sid: string): string {
  return createHash('sha256').update(sid).digest('hex').slice(0, 12);
}

async function expectInternalError(res: Response): Promise<void> {
  expect(res.status).toBe(500);
  const body = await res.json();
  expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32603 } });
}

function internalErrors(srv: TestServer, where: string): Promise<number> {
  return metricValue(srv.base, 'mcp_internal_errors_total', `where="${where}"`);
}

function faultLines(srv: TestServer, where: string): LogLine[] {
  return srv.logs.filter((l) => l.msg === FAULT_MSG && l.where === where);
}

async function expectPing(srv: TestServer, sid: string): Promise<void> {
  const res = await rpc(srv.url, sid, { jsonrpc: '2.0', id: 5, method: 'ping' });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ id: 5, result: {} });
}

describe('the front guard (faults injected with MCP_TEST_FAULTS)', () => {
  let srv: TestServer;
  let bystander: string;

  beforeAll(async () => {
    srv = await startServer({ env: { NODE_ENV: 'test', MCP_TEST_FAULTS: '1', WORKERS: '2' } });
    bystander = (await initialize(srv.url)).sid;
  }, 30_000);
  afterAll(async () => {
    await srv?.stop();
  });

  it('exports every site of mcp_internal_errors_total at 0 from the start', async () => {
    const text = await (await fetch(`${srv.base}/metrics`)).text();
    for (const where of ['post', 'get', 'delete', 'body', 'forward', 'worker_message', 'metrics', 'process'])
      expect(text).toContain(`mcp_internal_errors_total{where="${where}"} 0`);
  });

  it('a throwing route handler (POST, GET, DELETE on /mcp; /readyz): 500 with -32603, one log line with the stack, counted by where', async () => {
    const sid = (await initialize(srv.url)).sid;
    await expectInternalError(await rpc(srv.url, sid, { jsonrpc: '2.0', id: 1, method: 'ping' }, '2025-11-25', { [FAULT]: 'post' }));
    await expectInternalError(await fetch(srv.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, [FAULT]: 'get' } }));
    await expectInternalError(await fetch(srv.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, [FAULT]: 'delete' } }));
    await expectInternalError(await fetch(`${srv.base}/readyz`, { headers: { [FAULT]: 'ready' } }));
    for (const where of ['post', 'get', 'delete', 'ready']) {
      expect(await internalErrors(srv, where), where).toBe(1);
      const lines = faultLines(srv, where);
      expect(lines, where).toHaveLength(1);
      expect(lines[0].level).toBe('error');
      expect((lines[0].err as { stack: string }).stack).toMatch(/injected test fault \(\w+\)\n\s+at /);
    }
    // The node goes on: the session the failed requests named is intact, and so is everyone else's.
    await expectPing(srv, sid);
    await expectPing(srv, bystander);
    expect((await fetch(`${srv.base}/readyz`)).status).toBe(200);
  });

  it('a throw while the body is handled (onData continuation): 500, where="body"', async () => {
    const sid = (await initialize(srv.url)).sid;
    await expectInternalError(await rpc(srv.url, sid, { jsonrpc: '2.0', id: 'mcp-test-fault:body', method: 'ping' }));
    expect(await internalErrors(srv, 'body')).toBe(1);
    expect(faultLines(srv, 'body')).toHaveLength(1);
    await expectPing(srv, sid);
  });

  it("a throw while a worker reply is dispatched: that request gets 500, the worker's other sessions and the session itself go on", async () => {
    const sid = (await initialize(srv.url)).sid;
    await expectInternalError(await rpc(srv.url, sid, { jsonrpc: '2.0', id: 'mcp-test-fault:worker_message', method: 'ping' }));
    expect(await internalErrors(srv, 'worker_message')).toBe(1);
    expect(faultLines(srv, 'worker_message')).toHaveLength(1);
    await expectPing(srv, sid);
    await expectPing(srv, bystander);
  });

  it('a throw in the /metrics continuation: 500, where="metrics", the next scrape works', async () => {
    await expectInternalError(await fetch(`${srv.base}/metrics`, { headers: { [FAULT]: 'metrics' } }));
    expect(await internalErrors(srv, 'metrics')).toBe(1);
  });

  it('an uncaught exception and an unhandled rejection outside any handler: logged with the stack, counted where="process", the node keeps serving', async () => {
    expect((await fetch(`${srv.base}/healthz`, { headers: { [FAULT]: 'uncaught' } })).status).toBe(200);
    const uncaught = await srv.waitForLog((l) => l.msg === 'uncaught exception; the node goes on');
    expect((uncaught.err as { stack: string }).stack).toContain('injected test fault (uncaught)');
    expect((await fetch(`${srv.base}/healthz`, { headers: { [FAULT]: 'rejection' } })).status).toBe(200);
    const rejection = await srv.waitForLog((l) => l.msg === 'unhandled rejection; the node goes on');
    expect((rejection.err as { stack: string }).stack).toContain('injected test fault (rejection)');
    expect(await internalErrors(srv, 'process')).toBe(2);
    expect(srv.proc.exitCode).toBeNull();
    await expectPing(srv, bystander);
  });

  it('counted every fault once, and each 500 on /mcp in mcp_requests_total', async () => {
    expect(await metricValue(srv.base, 'mcp_internal_errors_total')).toBe(9);
    expect(srv.logs.filter((l) => l.msg === FAULT_MSG)).toHaveLength(7);
    // POST, GET, DELETE, body, worker_message; /readyz and /metrics are not /mcp requests.
    expect(await metricValue(srv.base, 'mcp_requests_total', 'status="500"')).toBe(5);
  });
});

describe('fault injection is for tests only', () => {
  it('is refused outside NODE_ENV=test', async () => {
    const { code, stderr } = await runServer(['--port', '0'], { MCP_TEST_FAULTS: '1', NODE_ENV: 'production' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/MCP_TEST_FAULTS.*NODE_ENV=test/);
  });

  it('is off by default: the fault header does nothing', async () => {
    const srv = await startServer({ env: { NODE_ENV: 'test' } });
    try {
      const { sid } = await initialize(srv.url);
      const res = await rpc(srv.url, sid, { jsonrpc: '2.0', id: 'mcp-test-fault:body', method: 'ping' }, '2025-11-25', { [FAULT]: 'post' });
      expect(res.status).toBe(200);
      expect(await metricValue(srv.base, 'mcp_internal_errors_total')).toBe(0);
    } finally {
      await srv.stop();
    }
  });
});

/** A POST of `size` body bytes over a raw socket; resolves with what came back before the close. */
function rawBigPost(port: number, size: number, chunked: boolean): Promise<{ response: string; error: string | null }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let response = '';
    let error: string | null = null;
    const head = `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: ${POST_HEADERS.accept}\r\n`;
    s.on('connect', () => {
      const body = Buffer.alloc(size, 0x20);
      if (!chunked) {
        s.write(`${head}content-length: ${size}\r\n\r\n`);
        s.write(body);
        return;
      }
      s.write(`${head}transfer-encoding: chunked\r\n\r\n`);
      for (let o = 0; o < size; o += 65536) {
        const c = body.subarray(o, o + 65536);
        s.write(`${c.length.toString(16)}\r\n`);
        s.write(c);
        s.write('\r\n');
      }
      s.write('0\r\n\r\n');
    });
    s.on('data', (d) => {
      response += d.toString('latin1');
      // The whole 413 (chunked: ends with the last chunk) is in: done.
      if (response.includes('\r\n0\r\n\r\n')) s.destroy();
    });
    s.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    s.on('close', () => resolve({ response, error }));
  });
}

describe('a body over MAX_BODY', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ env: { WORKERS: '1' } });
  }, 30_000);
  afterAll(async () => {
    await srv?.stop();
  });

  const FIVE_MIB = 5 * 1024 * 1024;

  for (const chunked of [false, true]) {
    it(`5 MiB ${chunked ? 'chunked' : 'with Content-Length'}: the client receives 413 and its JSON-RPC body, not a reset`, async () => {
      const { response, error } = await rawBigPost(srv.port, FIVE_MIB, chunked);
      expect(response.startsWith('HTTP/1.1 413 '), `${JSON.stringify(response.slice(0, 80))} error=${error}`).toBe(true);
      expect(error).toBeNull();
      const json = /\r\n\r\n[0-9a-f]+\r\n(\{.*\})\r\n0\r\n\r\n$/s.exec(response)?.[1];
      expect(JSON.parse(json!)).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 } });
    });
  }

  it('5 MiB through node:http: the response is 413 with its body', async () => {
    const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { port: srv.port, host: '127.0.0.1', method: 'POST', path: '/mcp', headers: { ...POST_HEADERS, 'content-length': FIVE_MIB } },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end(Buffer.alloc(FIVE_MIB, 0x20));
    });
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).error.code).toBe(-32600);
  });

  it('an absurd declared length: 413 at once, then the node stops reading after a bounded amount and closes', async () => {
    const got = await new Promise<{ response: string; sent: number }>((resolve) => {
      const s = connect(srv.port, '127.0.0.1');
      let response = '';
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        // Keeps sending until the node closes; at most 64 MiB (the node must close long before).
        while (!s.destroyed && sent < 64 * 1024 * 1024) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
      };
      s.on('connect', () => {
        // Just under 1e9: uWS's own parser closes on a Content-Length of ten digits or more.
        s.write(
          `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: ${POST_HEADERS.accept}\r\ncontent-length: 999999999\r\n\r\n`,
        );
        pump();
      });
      s.on('data', (d) => (response += d.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => resolve({ response, sent }));
    });
    expect(got.response.startsWith('HTTP/1.1 413 '), JSON.stringify(got.response.slice(0, 80))).toBe(true);
    // The node reads MAX_BODY (4 MiB) + max(1 MiB, MAX_BODY) at most, then stops; the rest of what
    // the client got to write sits in the two sockets' buffers (a few MiB each on loopback).
    expect(got.sent).toBeLessThan(48 * 1024 * 1024);
  });

  it('the node serves on', async () => {
    const { sid } = await initialize(srv.url);
    await expectPing(srv, sid);
  });
});

describe('no secrets and no session ids in logs', () => {
  it('a rejected REDIS_URL is reported without its password', async () => {
    const secret = 's3cr3t-P4ssw0rd';
    for (const url of [
      `redis://user:${secret}@host:notaport`,
      `ftp://u:${secret}@h:1`,
      `redis+cluster://u:${secret}@h:1/2`,
      `redis://:${secret},x@`,
      `h1:1,redis://u:${secret}@h2:x`,
    ]) {
      const { code, stdout, stderr } = await runServer(['--port', '0'], { REDIS_URL: url });
      expect(code, url).toBe(2);
      expect(stderr, url).toMatch(/invalid REDIS_URL/);
      expect(stdout + stderr, url).not.toContain(secret);
      // Nor a piece of it (a password holding "," splits into parts).
      expect(stdout + stderr, url).not.toContain(secret.slice(0, 6));
    }
  });

  it('the cluster secret never appears, not even when it is refused', async () => {
    const short = 'tooShort123';
    const refused = await runServer(['--port', '0'], { MCP_CLUSTER_SECRET: short });
    expect(refused.code).toBe(2);
    expect(refused.stdout + refused.stderr).not.toContain(short);

    const secret = 'cluster-secret-0123456789abcdef';
    const srv = await startServer({ env: { MCP_CLUSTER_SECRET: secret, LOG_LEVEL: 'debug' } });
    try {
      const { sid } = await initialize(srv.url);
      await expectPing(srv, sid);
      await fetch(srv.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
      const help = await runServer(['--help'], { MCP_CLUSTER_SECRET: secret });
      expect(help.stdout).not.toContain(secret);
    } finally {
      await srv.stop();
    }
    expect(JSON.stringify(srv.logs) + srv.stderr.join('\n')).not.toContain(secret);
  });

  it('a session is named in logs by a short hash of its id, never by the id', async () => {
    const srv = await startServer({ env: { MCP_SESSION_IDLE_MS: '300', LOG_LEVEL: 'debug' } });
    let sid: string;
    try {
      sid = (await initialize(srv.url)).sid;
      // Idle expiry: the worker ends the session and the front logs it.
      const line = await srv.waitForLog((l) => l.msg === 'session closed by worker', 15_000);
      expect(line.session).toBe(sessionRef(sid));
      expect(line.session).toMatch(/^[0-9a-f]{12}$/);
    } finally {
      await srv.stop();
    }
    expect(JSON.stringify(srv.logs) + srv.stderr.join('\n')).not.toContain(sid);
  });
});

describe('a node bound beyond loopback without MCP_ALLOWED_HOSTS', () => {
  const warned = (logs: LogLine[]): LogLine | undefined => logs.find((l) => l.level === 'warn' && /MCP_ALLOWED_HOSTS/.test(l.msg));

  it('says so at start-up: what it accepts and how to set the list', async () => {
    const srv = await startServer({ env: { HOST: '0.0.0.0', WORKERS: '1' } });
    try {
      const line = await srv.waitForLog((l) => l.level === 'warn' && /MCP_ALLOWED_HOSTS/.test(l.msg));
      expect(line.msg).toMatch(/0\.0\.0\.0/);
      expect(line.msg).toMatch(/any Host/);
      expect(line.msg).toMatch(/set MCP_ALLOWED_HOSTS/);
      // What the warning says is true: a foreign Host is accepted.
      const { res } = await initialize(srv.url, '2025-11-25', { host: 'rebound.example' });
      expect(res.status).toBe(200);
    } finally {
      await srv.stop();
    }
  });

  it('says nothing with MCP_ALLOWED_HOSTS set, or bound to loopback', async () => {
    for (const env of [{ HOST: '0.0.0.0', MCP_ALLOWED_HOSTS: 'mcp.example.com' }, { HOST: '127.0.0.1' }]) {
      const srv = await startServer({ env: { ...env, WORKERS: '1' } });
      try {
        await waitFor(async () => (await fetch(`${srv.base}/readyz`)).status === 200, 10_000, 'ready');
        expect(warned(srv.logs), JSON.stringify(env)).toBeUndefined();
      } finally {
        await srv.stop();
      }
    }
  });
});
