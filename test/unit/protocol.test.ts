/** In-process: JSON-RPC classification, error bodies, and protocol revision negotiation. */
import { describe, expect, it } from 'vitest';
import { classify, errorBody, MsgKind } from '../../src/protocol/jsonrpc.js';
import {
  allowsBatch,
  DEFAULT_HEADER_VERSION,
  LATEST_VERSION,
  negotiate,
  SUPPORTED_VERSIONS,
  versionIndex,
  wantsPriming,
} from '../../src/protocol/versions.js';

describe('classify', () => {
  it('tells requests, notifications and responses apart', () => {
    expect(classify({ jsonrpc: '2.0', id: 1, method: 'ping' })).toBe(MsgKind.Request);
    expect(classify({ jsonrpc: '2.0', id: 'a', method: 'tools/call', params: {} })).toBe(MsgKind.Request);
    expect(classify({ jsonrpc: '2.0', method: 'notifications/initialized' })).toBe(MsgKind.Notification);
    expect(classify({ jsonrpc: '2.0', id: 3, result: {} })).toBe(MsgKind.Response);
    expect(classify({ jsonrpc: '2.0', id: 3, error: { code: 1, message: 'x' } })).toBe(MsgKind.Response);
    expect(classify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'x' } })).toBe(MsgKind.Response);
  });

  it('refuses what is not JSON-RPC 2.0', () => {
    for (const m of [
      null,
      1,
      'x',
      [],
      {},
      { jsonrpc: '1.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', id: null, method: 'ping' },
      { jsonrpc: '2.0', id: Infinity, method: 'ping' },
      { jsonrpc: '2.0', id: {}, method: 'ping' },
      { jsonrpc: '2.0', id: 1, method: 'ping', params: 3 },
      { jsonrpc: '2.0', id: 1, method: 'ping', params: null },
      { jsonrpc: '2.0', id: 1, result: {}, error: {} },
      { jsonrpc: '2.0', id: 1 },
    ]) {
      expect(classify(m), JSON.stringify(m)).toBe(MsgKind.Invalid);
    }
  });

  it('builds error bodies with and without data', () => {
    expect(JSON.parse(errorBody(7, -32602, 'bad'))).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32602, message: 'bad' } });
    expect(JSON.parse(errorBody(null, -32603, 'x', { a: 1 }))).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32603, message: 'x', data: { a: 1 } },
    });
  });
});

describe('protocol revisions', () => {
  it('echoes a supported revision and offers the latest otherwise', () => {
    for (const v of SUPPORTED_VERSIONS) expect(negotiate(v)).toBe(v);
    for (const v of ['2099-01-01', '', 42, null, undefined, {}]) expect(negotiate(v)).toBe(LATEST_VERSION);
  });

  it('indexes revisions; unknown ones are -1', () => {
    expect(SUPPORTED_VERSIONS.map(versionIndex)).toEqual(SUPPORTED_VERSIONS.map((_, i) => i));
    expect(versionIndex('2025-13-01')).toBe(-1);
    expect(versionIndex(DEFAULT_HEADER_VERSION)).toBeGreaterThanOrEqual(0);
  });

  it('allows batches before 2025-06-18 and primes streams from 2025-11-25', () => {
    expect(allowsBatch('2025-03-26')).toBe(true);
    expect(allowsBatch('2025-06-18')).toBe(false);
    expect(wantsPriming('2025-06-18')).toBe(false);
    expect(wantsPriming('2025-11-25')).toBe(true);
  });
});
