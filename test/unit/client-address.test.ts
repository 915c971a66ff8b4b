/**
 * In-process: the client address the per-client limits key on (src/front/client-address.ts): IP
 * parsing (uWS's full-form mapped addresses, IPv6 /64 keys), the CIDR matcher behind
 * MCP_TRUSTED_PROXIES, and the X-Forwarded-For walk, hostile values included.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AddressSet, clientKey, MAX_FORWARDED_HOPS, parseForwardedEntry, parseIp } from '../../src/front/client-address.js';
import { principalIdentity } from '../../src/front/client-limits.js';

describe('parseIp', () => {
  it('reads IPv4, and IPv4-mapped IPv6 in every form as IPv4', () => {
    expect(parseIp('203.0.113.7')?.key).toBe('203.0.113.7');
    expect(parseIp('0000:0000:0000:0000:0000:ffff:7f00:0001')?.key).toBe('127.0.0.1');
    expect(parseIp('::ffff:127.0.0.2')?.key).toBe('127.0.0.2');
    expect(parseIp('::ffff:7f00:3')?.key).toBe('127.0.0.3');
    expect(parseIp('0000:0000:0000:0000:0000:ffff:7f00:0001')?.family).toBe(4);
  });

  it('keys IPv6 by its /64, whatever its spelling', () => {
    const a = parseIp('2001:db8:1:2:aaaa::1');
    const b = parseIp('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee');
    expect(a?.family).toBe(6);
    expect(a?.key).toBe('2001:db8:1:2::/64');
    expect(b?.key).toBe(a?.key);
    expect(parseIp('0000:0000:0000:0000:0000:0000:0000:0001')?.key).toBe('0:0:0:0::/64');
    expect(parseIp('fe80::1%eth0')?.key).toBe('fe80:0:0:0::/64');
    expect(parseIp('2001:db8:9::')?.key).toBe('2001:db8:9:0::/64');
  });

  it('refuses what is not an IP', () => {
    for (const bad of ['', 'localhost', '1.2.3', '999.1.1.1', '1.2.3.4:80', '[::1]', '::g', 'x'.repeat(1000)])
      expect(parseIp(bad)).toBeNull();
  });
});

describe('parseForwardedEntry', () => {
  it('accepts bare, bracketed and ported addresses', () => {
    expect(parseForwardedEntry('198.51.100.1')?.key).toBe('198.51.100.1');
    expect(parseForwardedEntry('198.51.100.1:4711')?.key).toBe('198.51.100.1');
    expect(parseForwardedEntry('[2001:db8::1]:443')?.key).toBe('2001:db8:0:0::/64');
    expect(parseForwardedEntry('[2001:db8::1]')?.key).toBe('2001:db8:0:0::/64');
    expect(parseForwardedEntry('2001:db8::1')?.key).toBe('2001:db8:0:0::/64');
  });

  it('refuses garbage', () => {
    for (const bad of ['unknown', '_hidden', '[2001:db8::1', '[2001:db8::1]:x', '1.2.3.4:', '1.2.3.4:x', '', 'a'.repeat(65)])
      expect(parseForwardedEntry(bad)).toBeNull();
  });
});

describe('AddressSet (MCP_TRUSTED_PROXIES)', () => {
  it('matches addresses and CIDR blocks of both families', () => {
    const s = new AddressSet(['127.0.0.1', '10.0.0.0/8', '2001:db8::/32', '::1']);
    const has = (a: string): boolean => s.has(parseIp(a)!);
    expect(has('127.0.0.1')).toBe(true);
    expect(has('0000:0000:0000:0000:0000:ffff:7f00:0001')).toBe(true);
    expect(has('127.0.0.2')).toBe(false);
    expect(has('10.255.0.1')).toBe(true);
    expect(has('11.0.0.1')).toBe(false);
    expect(has('2001:db8:ffff::1')).toBe(true);
    expect(has('2001:db9::1')).toBe(false);
    expect(has('::1')).toBe(true);
    expect(has('0000:0000:0000:0000:0000:0000:0000:0001')).toBe(true);
  });

  it('is empty by default, and names a bad entry', () => {
    expect(new AddressSet([]).has(parseIp('127.0.0.1')!)).toBe(false);
    for (const bad of ['10.0.0.0/33', 'proxy.local', '10.0.0.0/x', '::1/129', '1.2.3'])
      expect(() => new AddressSet([bad])).toThrow(JSON.stringify(bad));
  });
});

describe('clientKey', () => {
  const trusted = new AddressSet(['127.0.0.1', '10.0.0.0/8']);
  const key = (peer: string, xff: string): string => clientKey(peer, trusted, () => xff);

  it('an untrusted peer is the client; its X-Forwarded-For is not even read', () => {
    let read = false;
    expect(
      clientKey('198.51.100.9', trusted, () => {
        read = true;
        return '1.1.1.1';
      }),
    ).toBe('198.51.100.9');
    expect(read).toBe(false);
  });

  it('a trusted peer: the right-most address that is not a trusted proxy', () => {
    expect(key('127.0.0.1', '203.0.113.5')).toBe('203.0.113.5');
    // The client claimed 6.6.6.6; the trusted proxy appended what it saw.
    expect(key('127.0.0.1', '6.6.6.6, 203.0.113.5')).toBe('203.0.113.5');
    // A chain of trusted proxies.
    expect(key('127.0.0.1', '6.6.6.6, 203.0.113.5, 10.1.1.1, 10.2.2.2')).toBe('203.0.113.5');
    // Separate header lines joined by the caller; spaces of any amount.
    expect(key('127.0.0.1', '6.6.6.6,203.0.113.5 ,  10.1.1.1')).toBe('203.0.113.5');
    expect(key('0000:0000:0000:0000:0000:ffff:7f00:0001', '[2001:db8::7]:1234')).toBe('2001:db8:0:0::/64');
  });

  it('no header, or nothing but trusted proxies: the last trusted address reached', () => {
    expect(key('127.0.0.1', '')).toBe('127.0.0.1');
    expect(key('127.0.0.1', '10.0.0.1')).toBe('10.0.0.1');
  });

  it('garbage where a proxy entry should be stops the walk at the last good address', () => {
    expect(key('127.0.0.1', 'unknown')).toBe('127.0.0.1');
    expect(key('127.0.0.1', '203.0.113.5, garbage, 10.0.0.3')).toBe('10.0.0.3');
    expect(key('127.0.0.1', ',,,')).toBe('127.0.0.1');
    expect(key('127.0.0.1', 'x'.repeat(16 * 1024))).toBe('127.0.0.1');
  });

  it('walks at most MAX_FORWARDED_HOPS entries', () => {
    const chain = [...Array<string>(100).fill('10.0.0.1'), '203.0.113.5'].reverse().join(',');
    expect(key('127.0.0.1', chain)).toBe('10.0.0.1');
    const short = ['203.0.113.5', ...Array<string>(MAX_FORWARDED_HOPS - 1).fill('10.0.0.1')].join(',');
    expect(key('127.0.0.1', short)).toBe('203.0.113.5');
  });

  it('never throws and answers a short key for any header value', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), (xff) => {
        const k = key('127.0.0.1', xff);
        expect(typeof k).toBe('string');
        expect(k.length).toBeLessThanOrEqual(64);
      }),
      { numRuns: 500 },
    );
  });
});

describe('principalIdentity', () => {
  it('never equals an address key, and bounds long keys', () => {
    expect(principalIdentity('127.0.0.1')).toBe('p:127.0.0.1');
    const long = principalIdentity('x'.repeat(10_000));
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toBe(principalIdentity('x'.repeat(10_000)));
    expect(long).not.toBe(principalIdentity('x'.repeat(9_999)));
  });
});
