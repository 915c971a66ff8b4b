/**
 * In-process: the thread side of 2026-07-28 requests — a reply is one `json` message, or `event`s
 * without ids ending with the response when the handler notified first; `cancel` aborts the handler
 * and nothing follows; past the in-flight bound the answer is 503 at once.
 */
import { describe, expect, it } from 'vitest';
import { createRequestStateSealer } from '../../src/cluster/request-state.js';
import type { BatchChannel } from '../../src/pool/channel.js';
import type { ModernMsg, ToFront } from '../../src/pool/messages.js';
import { MODERN_VERSION } from '../../src/protocol/modern.js';
import { Definitions } from '../../workers/definitions.js';
import registerEverything from '../../workers/everything.js';
import { ModernDispatcher } from '../../workers/modern.js';
import { MAX_MODERN_IN_FLIGHT, ModernHost } from '../../workers/modern-host.js';

function setup() {
  const defs = new Definitions();
  registerEverything(defs);
  const sent: ToFront[] = [];
  const out = { push: (m: ToFront) => sent.push(m) } as unknown as BatchChannel<ToFront>;
  const d = new ModernDispatcher(defs, createRequestStateSealer('a-cluster-secret-of-32-characters'), {
    handlerTimeoutMs: 5000,
    listCache: { ttlMs: 1, cacheScope: 'private' },
    readCache: { ttlMs: 0, cacheScope: 'private' },
  });
  return { defs, sent, host: new ModernHost(out, d) };
}

let exchange = 1;
function msg(method: string, params: Record<string, unknown> = {}): ModernMsg {
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  return {
    type: 'modern',
    exchange: exchange++,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta } }),
    protocolVersion: MODERN_VERSION,
    mcpMethod: method,
    mcpName: typeof params.name === 'string' ? params.name : '',
    paramHeaders: null,
  };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('modern host', () => {
  it('answers a plain request with one json message', () => {
    const { host, sent } = setup();
    const m = msg('tools/list');
    host.handle(m);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ type: 'json', exchange: m.exchange, status: 200 });
    expect(host.inFlight).toBe(0);
  });

  it('streams notifications as events without ids and ends with the response', async () => {
    const { host, sent } = setup();
    const m = msg('tools/call', { name: 'test_tool_with_progress' });
    const body = JSON.parse(m.body);
    body.params._meta.progressToken = 't';
    m.body = JSON.stringify(body);
    host.handle(m);
    for (let i = 0; i < 100 && !sent.some((s) => s.type === 'event' && s.end); i++) await new Promise((r) => setTimeout(r, 20));
    const events = sent.filter((s) => s.type === 'event');
    expect(events.length).toBeGreaterThanOrEqual(4);
    expect(events.every((e) => e.type === 'event' && e.eventId === '' && e.exchange === m.exchange)).toBe(true);
    expect(events.map((e) => (e.type === 'event' ? e.end : null))).toEqual([...Array(events.length - 1).fill(false), true]);
    expect(sent.some((s) => s.type === 'json')).toBe(false);
  });

  it('cancels on request: the handler is aborted and nothing is sent for it', async () => {
    const { host, sent, defs } = setup();
    let aborted = false;
    defs.registerTool('hang', { description: 'waits for its signal' }, (_a, extra) => {
      extra.signal.addEventListener('abort', () => (aborted = true));
      return new Promise(() => {});
    });
    const m = msg('tools/call', { name: 'hang' });
    host.handle(m);
    await settle();
    expect(host.inFlight).toBe(1);
    host.handle({ type: 'cancel', exchange: m.exchange });
    expect(aborted).toBe(true);
    expect(host.inFlight).toBe(0);
    await settle();
    expect(sent).toEqual([]);
  });

  it('answers 503 past the in-flight bound', async () => {
    const { host, sent, defs } = setup();
    defs.registerTool('hang', { description: 'never answers' }, () => new Promise(() => {}));
    for (let i = 0; i < MAX_MODERN_IN_FLIGHT; i++) host.handle(msg('tools/call', { name: 'hang' }));
    await settle();
    expect(host.inFlight).toBe(MAX_MODERN_IN_FLIGHT);
    const over = msg('tools/call', { name: 'hang' });
    host.handle(over);
    expect(sent).toEqual([expect.objectContaining({ type: 'json', exchange: over.exchange, status: 503 })]);
    host.stop();
    expect(host.inFlight).toBe(0);
  });
});
