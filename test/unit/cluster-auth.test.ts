/** In-process: the peer address rule and the node-to-node forward HMAC. */
import { describe, expect, it } from 'vitest';
import { createPeerRule } from '../../src/cluster/peer-address.js';
import { createForwardAuth, SKEW_MS, WINDOW_MS } from '../../src/cluster/forward-auth.js';
import { loadConfig } from '../../src/config.js';

describe('peer address rule', () => {
  const open = createPeerRule([]);
  it('takes host:port with an IP literal or a DNS name, port 1..65535', () => {
    expect(open.check('127.0.0.1:3001')).toEqual({ host: '127.0.0.1', port: 3001 });
    expect(open.check('[::1]:3001')).toEqual({ host: '::1', port: 3001 });
    expect(open.check('mcp-2.mcp.svc.cluster.local:3000')).toEqual({ host: 'mcp-2.mcp.svc.cluster.local', port: 3000 });
  });
  it('refuses everything else', () => {
    for (const bad of [
      '127.0.0.1',
      '127.0.0.1:0',
      '127.0.0.1:65536',
      'http://a:80',
      'a b:80',
      'user@host:80',
      'host:80/x',
      '::1:80',
      '[nope]:80',
      '1.2.3:80',
      '999.1.1.1:80',
      '0.0.0.0:80',
      '[::]:80',
      '224.0.0.1:80',
      '255.255.255.255:80',
      '-a.b:80',
      '',
      ' 1.2.3.4:80',
    ]) {
      expect(open.check(bad), bad).toBeNull();
    }
  });
  it('with MCP_PEER_ALLOW, only listed networks and names', () => {
    const rule = createPeerRule(['10.0.0.0/8', 'fd00::/8', '192.168.1.7', 'mcp-1.internal']);
    expect(rule.check('10.2.3.4:3000')).not.toBeNull();
    expect(rule.check('[fd12::1]:3000')).not.toBeNull();
    expect(rule.check('192.168.1.7:3000')).not.toBeNull();
    expect(rule.check('MCP-1.internal:3000')).not.toBeNull();
    expect(rule.check('192.168.1.8:3000')).toBeNull();
    expect(rule.check('127.0.0.1:3000')).toBeNull();
    expect(rule.check('mcp-2.internal:3000')).toBeNull();
  });
  it('a bad MCP_PEER_ALLOW entry is a configuration error naming the option', () => {
    expect(() => loadConfig([], { MCP_PEER_ALLOW: '10.0.0.0/33' })).toThrow(/MCP_PEER_ALLOW/);
    expect(() => loadConfig([], { MCP_PEER_ALLOW: 'not a host' })).toThrow(/MCP_PEER_ALLOW/);
    expect(loadConfig([], { MCP_PEER_ALLOW: '10.0.0.0/8, mcp-1' }).peerAllow).toEqual(['10.0.0.0/8', 'mcp-1']);
  });
});

describe('forward auth', () => {
  const secret = 'a-cluster-secret-of-some-length';
  const a = createForwardAuth(secret, 'node1');
  const b = createForwardAuth(secret, 'node2');
  const now = 1_800_000_000_000;
  it('verifies a header of any node of the cluster for exactly the request it was made for', () => {
    const h = a.sign('POST', '/mcp', 'sid-1', now);
    expect(b.verify(h, 'POST', '/mcp', 'sid-1', now)).toBe(true);
    expect(b.verify(h, 'GET', '/mcp', 'sid-1', now)).toBe(false);
    expect(b.verify(h, 'POST', '/other', 'sid-1', now)).toBe(false);
    expect(b.verify(h, 'POST', '/mcp', 'sid-2', now)).toBe(false);
    expect(createForwardAuth('another-secret-entirely', 'node2').verify(h, 'POST', '/mcp', 'sid-1', now)).toBe(false);
  });
  it('refuses stale, future and malformed headers', () => {
    expect(b.verify(a.sign('POST', '/mcp', 's', now - WINDOW_MS - 1), 'POST', '/mcp', 's', now)).toBe(false);
    expect(b.verify(a.sign('POST', '/mcp', 's', now + SKEW_MS + 1), 'POST', '/mcp', 's', now)).toBe(false);
    const h = a.sign('POST', '/mcp', 's', now);
    const [who, ts, mac] = h.split('.');
    // Another sender or time with the same MAC.
    expect(b.verify(`${Buffer.from('node3').toString('base64url')}.${ts}.${mac}`, 'POST', '/mcp', 's', now)).toBe(false);
    expect(b.verify(`${who}.${Number(ts) + 1}.${mac}`, 'POST', '/mcp', 's', now)).toBe(false);
    for (const bad of ['', 'x', 'a.b', 'a.b.c.d', `${who}.-1.${mac}`, `${who}.${ts}.${mac.slice(1)}`, `${who}.${ts}.`, `.${ts}.${mac}`]) {
      expect(b.verify(bad, 'POST', '/mcp', 's', now), bad).toBe(false);
    }
  });
});
