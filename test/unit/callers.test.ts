/**
 * In-process: a caller's auth info crosses to a worker once per token (src/pool/callers.ts). The
 * front's record and the worker's copy agree through any sequence of principals, new tokens and
 * resets, so a request never runs with another caller's info or without one; and the worker side
 * refuses a 2026-07-28 request whose caller it does not hold rather than run it anonymously.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallersHeld, CallersSent } from '../../src/pool/callers.js';
import type { BatchChannel } from '../../src/pool/channel.js';
import type { ModernMsg, ToFront } from '../../src/pool/messages.js';
import { createRequestStateSealer } from '../../src/cluster/request-state.js';
import { MODERN_VERSION } from '../../src/protocol/modern.js';
import { Definitions } from '../../workers/definitions.js';
import registerEverything from '../../workers/everything.js';
import { ModernDispatcher } from '../../workers/modern.js';
import { ModernHost } from '../../workers/modern-host.js';

/** One request through both sides, as modernPost and ModernHost do it: what the handler would see. */
function request(sent: CallersSent, held: CallersHeld<string>, key: string, token: string): string | undefined {
  const send = sent.note(key, token);
  return held.take(key, send === 'known' ? undefined : `${key}:${token}`, send === 'reset');
}

describe('callers sent once per token', () => {
  it('sends on first sight and on a new token, the key alone otherwise', () => {
    const sent = new CallersSent(8);
    expect(sent.note('alice', 't1')).toBe('send');
    expect(sent.note('alice', 't1')).toBe('known');
    expect(sent.note('bob', 'u1')).toBe('send');
    expect(sent.note('alice', 't2')).toBe('send');
    expect(sent.note('alice', 't2')).toBe('known');
  });

  it('past its bound forgets every caller and has the worker do the same, on the message that needs it', () => {
    const sent = new CallersSent(2);
    const held = new CallersHeld<string>();
    expect(request(sent, held, 'a', '1')).toBe('a:1');
    expect(request(sent, held, 'b', '1')).toBe('b:1');
    expect(sent.note('c', '1')).toBe('reset');
    expect(held.take('c', 'c:1', true)).toBe('c:1');
    expect(held.size).toBe(1);
    // a was forgotten on both sides: sent again, not looked up.
    expect(request(sent, held, 'a', '1')).toBe('a:1');
    expect(sent.size).toBeLessThanOrEqual(2);
  });

  it('agrees with the worker through any sequence: every request sees its own caller and token', () => {
    const call = fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), token: fc.constantFrom('1', '2', '3') });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(call, { maxLength: 200 }), (max, calls) => {
        const sent = new CallersSent(max);
        const held = new CallersHeld<string>();
        for (const { key, token } of calls) {
          if (request(sent, held, key, token) !== `${key}:${token}`) return false;
          if (sent.size > max || held.size > max) return false;
        }
        return true;
      }),
    );
  });
});

describe('a worker that does not hold the caller', () => {
  it('answers 500 and runs nothing, rather than run the handler without the caller', () => {
    const defs = new Definitions();
    registerEverything(defs);
    const out: ToFront[] = [];
    const channel = { push: (m: ToFront) => out.push(m) } as unknown as BatchChannel<ToFront>;
    const dispatcher = new ModernDispatcher(defs, createRequestStateSealer('a-cluster-secret-of-32-characters'), {
      handlerTimeoutMs: 5000,
      listCache: { ttlMs: 1, cacheScope: 'private' },
      readCache: { ttlMs: 0, cacheScope: 'private' },
    });
    const host = new ModernHost(channel, dispatcher);
    const _meta = { 'io.modelcontextprotocol/protocolVersion': MODERN_VERSION, 'io.modelcontextprotocol/clientCapabilities': {} };
    const m: ModernMsg = {
      type: 'modern',
      exchange: 7,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {}, _meta } }),
      protocolVersion: MODERN_VERSION,
      mcpMethod: 'tools/call',
      mcpName: 'whoami',
      paramHeaders: null,
      principal: 'never-sent',
    };
    host.handle(m);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'json', exchange: 7, status: 500 });
    expect(host.inFlight).toBe(0);
  });
});
