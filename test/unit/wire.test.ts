/**
 * In-process: the text form of the channel's frequent messages (src/pool/wire.ts), through the
 * batching channel over a real MessageChannel. Every message reads back exactly as it was pushed,
 * whatever its strings hold, in the order pushed, mixed with messages that travel as objects.
 */
import { MessageChannel } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchChannel } from '../../src/pool/channel.js';
import type { ToFront, ToWorker } from '../../src/pool/messages.js';
import { encodeToFront, encodeToWorker, unpack, type WireBatch } from '../../src/pool/wire.js';

/** Any string, including the codec's own delimiters, digits, and lone surrogates. */
const text = fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('', ':', ';', '12:', '3;4:abc', '\u0000', '\ud800'));
const exchange = fc.integer({ min: 0, max: 2 ** 31 });

const toWorker: fc.Arbitrary<ToWorker> = fc.oneof(
  fc.record({ type: fc.constant('post' as const), sessionId: text, exchange, body: text }),
  fc.record({ type: fc.constant('post' as const), sessionId: text, exchange, body: text, unparsed: fc.constant(true as const) }),
  fc.record(
    {
      type: fc.constant('modern' as const),
      exchange,
      body: text,
      protocolVersion: text,
      mcpMethod: text,
      mcpName: text,
      paramHeaders: fc.option(fc.dictionary(text, text), { nil: null }),
      principal: text,
    },
    { requiredKeys: ['type', 'exchange', 'body', 'protocolVersion', 'mcpMethod', 'mcpName', 'paramHeaders'] },
  ),
  fc.record({ type: fc.constant('cancel' as const), exchange }),
  // Objects on the wire: a refresh of the caller's token, a stream, a detach.
  fc.record({
    type: fc.constant('post' as const),
    sessionId: text,
    exchange,
    body: text,
    auth: fc.record({ token: text, clientId: text, scopes: fc.array(text) }),
  }) as fc.Arbitrary<ToWorker>,
  fc.record({ type: fc.constant('get' as const), sessionId: text, exchange, lastEventId: fc.option(text, { nil: null }) }),
  fc.record({ type: fc.constant('detach' as const), sessionId: text, exchange }),
);

const toFront: fc.Arbitrary<ToFront> = fc.oneof(
  fc.record({ type: fc.constant('json' as const), exchange, status: fc.integer({ min: 100, max: 599 }), body: text }),
  fc.record({ type: fc.constant('event' as const), exchange, eventId: text, body: text, end: fc.boolean() }),
  fc.record({ type: fc.constant('method' as const), exchange, method: fc.nat({ max: 64 }) }),
  fc.record({ type: fc.constant('close' as const), exchange, retryMs: fc.nat() }),
  fc.record({ type: fc.constant('gone' as const), sessionId: text, reason: text }),
  fc.record({ type: fc.constant('changed' as const), kind: fc.constantFrom('tools' as const, 'prompts' as const, 'resources' as const) }),
);

/** Pushes `msgs` through a channel posting into a real port; resolves with what the other end unpacked. */
async function roundTrip<T extends ToWorker | ToFront>(msgs: T[], encode: (m: T) => string | null, eagerAt: number): Promise<T[]> {
  const { port1, port2 } = new MessageChannel();
  const got: T[] = [];
  try {
    const all = new Promise<void>((resolve) => {
      port2.on('message', (raw: WireBatch<T>) => {
        got.push(...unpack(raw));
        if (got.length >= msgs.length) resolve();
      });
    });
    const ch = new BatchChannel<T>(port1, eagerAt, encode);
    for (const m of msgs) ch.push(m);
    ch.flush();
    if (msgs.length > 0) await all;
    return got;
  } finally {
    port1.close();
    port2.close();
  }
}

describe('wire: the channel messages as text', () => {
  it('reads back every front → worker message exactly, in order, with objects in between', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(toWorker, { maxLength: 12 }), fc.integer({ min: 1, max: 6 }), async (msgs, eager) => {
        expect(await roundTrip(msgs, encodeToWorker, eager)).toEqual(msgs);
      }),
      { numRuns: 300 },
    );
  });

  it('reads back every worker → front message exactly, in order, with objects in between', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(toFront, { maxLength: 12 }), fc.integer({ min: 1, max: 6 }), async (msgs, eager) => {
        expect(await roundTrip(msgs, encodeToFront, eager)).toEqual(msgs);
      }),
      { numRuns: 300 },
    );
  });

  it('sends the frequent messages as text and the others as objects', () => {
    const posted: Array<Array<ToFront | string>> = [];
    const ch = new BatchChannel<ToFront>({ postMessage: (b) => posted.push(b) }, 100, encodeToFront);
    ch.push({ type: 'json', exchange: 1, status: 200, body: '{"a":1}' });
    ch.push({ type: 'event', exchange: 2, eventId: '1_2', body: '{}', end: false });
    ch.push({ type: 'gone', sessionId: 's', reason: 'idle' });
    ch.push({ type: 'close', exchange: 2, retryMs: 1000 });
    ch.flush();
    expect(posted).toHaveLength(1);
    const [batch] = posted;
    expect(batch.map((b) => typeof b)).toEqual(['string', 'object', 'string']);
    expect(ch.pending).toBe(0);
  });

  it('refuses text it did not write', () => {
    for (const bad of ['Z1;', 'J1;200;99:{}', 'P12', 'J1;200;3']) expect(() => unpack<ToFront>([bad]), JSON.stringify(bad)).toThrow(/wire/);
  });
});
