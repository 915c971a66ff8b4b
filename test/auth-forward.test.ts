/**
 * Authorization across a forward: two cluster nodes in one process (one redis-server, one cluster
 * secret, one resource identifier) trusting the same real OpenID provider. A request for node A's
 * session that reaches node B is checked by B, forwarded with its Authorization header, and checked
 * again by A, whose tool sees the caller (without the header passed on, A would refuse it); a request
 * without a token is refused by the node the client reached, and nothing is forwarded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, POST_HEADERS, rpc } from './helpers/server.js';
import { startRedis, stopAllRedis, type RedisServer } from './helpers/redis.js';
import { nodeBase, nodeUrl, quietLog, startPair, type RunningNode } from './helpers/in-process.js';
import { startIssuer, type TestIssuer } from './helpers/oidc.js';

const SECRET = 'auth-forward-test-cluster-secret';
const VERSION = '2025-11-25';
/** Both nodes serve one resource, as behind one load balancer. */
const RESOURCE = 'https://mcp.cluster.example/mcp';

let redis: RedisServer;
let as: TestIssuer;
let a: RunningNode;
let b: RunningNode;

const url = nodeUrl;
const base = nodeBase;

beforeAll(async () => {
  [redis, as] = await Promise.all([startRedis(), startIssuer()]);
  quietLog('auth-forward');
  [a, b] = await startPair(['auth-node-a', 'auth-node-b'], redis.url, SECRET, {
    MCP_AUTH_ISSUER: as.issuer,
    MCP_AUTH_AUDIENCE: RESOURCE,
    MCP_PUBLIC_URL: 'https://mcp.cluster.example',
  });
}, 60_000);

afterAll(async () => {
  await b?.close('test end');
  await a?.close('test end');
  await stopAllRedis();
  await as?.stop();
}, 60_000);

describe('authorization across a forward', () => {
  it('checks the token at the entry node and at the owner, whose tool sees the caller', async () => {
    const token = await as.token(RESOURCE, 'mcp:read');
    const auth = { authorization: `Bearer ${token}` };
    const init = await fetch(url(a), {
      method: 'POST',
      headers: { ...POST_HEADERS, ...auth },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'auth-forward', version: '1' } },
      }),
    });
    expect(init.status).toBe(200);
    await init.text();
    const sid = init.headers.get('mcp-session-id')!;

    const forwardedBefore = await metricValue(base(b), 'mcp_forwarded_requests_total');
    const who = await rpc(
      url(b),
      sid,
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
      VERSION,
      auth,
    );
    expect(who.status).toBe(200);
    expect((await who.json()).result.structuredContent).toMatchObject({ subject: 'raw-client', clientId: 'raw-client' });
    expect(await metricValue(base(b), 'mcp_forwarded_requests_total')).toBe(forwardedBefore + 1);

    // No token: node-b refuses it itself; nothing is forwarded.
    const bare = await rpc(
      url(b),
      sid,
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
      VERSION,
    );
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe(
      'Bearer resource_metadata="https://mcp.cluster.example/.well-known/oauth-protected-resource/mcp"',
    );
    await bare.text();
    expect(await metricValue(base(b), 'mcp_forwarded_requests_total')).toBe(forwardedBefore + 1);
    expect(await metricValue(base(b), 'mcp_auth_failures_total', 'reason="missing"')).toBe(1);
  });
});
