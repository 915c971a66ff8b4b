/** In-process: Host and Origin validation (DNS-rebinding protection). */
import { describe, expect, it } from 'vitest';
import { createGuard } from '../../src/front/guards.js';

describe('Host guard', () => {
  it('a loopback-bound node with no list accepts only loopback names', () => {
    const g = createGuard({ host: '127.0.0.1', allowedHosts: [], allowedOrigins: [] });
    for (const h of ['localhost', 'localhost:3000', '127.0.0.1:80', '[::1]:3000', 'LOCALHOST']) expect(g.hostAllowed(h), h).toBe(true);
    for (const h of ['evil.example', 'evil.example:3000', '', '127.0.0.2', 'localhost.evil.example'])
      expect(g.hostAllowed(h), h).toBe(false);
  });

  it('an explicit list is the only thing accepted, with or without a port', () => {
    const g = createGuard({ host: '0.0.0.0', allowedHosts: ['mcp.example.com'], allowedOrigins: [] });
    expect(g.hostAllowed('mcp.example.com')).toBe(true);
    expect(g.hostAllowed('MCP.example.com:443')).toBe(true);
    expect(g.hostAllowed('localhost')).toBe(false);
  });

  it('a non-loopback node without a list accepts any Host', () => {
    expect(createGuard({ host: '0.0.0.0', allowedHosts: [], allowedOrigins: [] }).hostAllowed('anything')).toBe(true);
  });
});

describe('Origin guard', () => {
  const g = createGuard({ host: '127.0.0.1', allowedHosts: [], allowedOrigins: ['https://app.example'] });

  it('accepts no Origin, a listed Origin, and the same origin as Host', () => {
    expect(g.originAllowed('', 'localhost:3000')).toBe(true);
    expect(g.originAllowed('https://APP.example', 'localhost:3000')).toBe(true);
    expect(g.originAllowed('http://localhost:3000', 'localhost:3000')).toBe(true);
  });

  it('refuses another origin, and a same-looking origin when Host is empty', () => {
    expect(g.originAllowed('https://evil.example', 'localhost:3000')).toBe(false);
    expect(g.originAllowed('http://localhost:3001', 'localhost:3000')).toBe(false);
    expect(g.originAllowed('null', 'localhost:3000')).toBe(false);
    expect(g.originAllowed('http://', '')).toBe(false);
    // Only an http(s) origin can be the same origin, whatever precedes "//".
    expect(g.originAllowed('\x7fhttp://localhost:3000', 'localhost:3000')).toBe(false);
    expect(g.originAllowed('ftp://localhost:3000', 'localhost:3000')).toBe(false);
    expect(g.originAllowed('https://localhost:3000', 'localhost:3000')).toBe(true);
  });

  it('"*" allows every origin', () => {
    expect(createGuard({ host: '127.0.0.1', allowedHosts: [], allowedOrigins: ['*'] }).originAllowed('https://x', 'y')).toBe(true);
  });
});
