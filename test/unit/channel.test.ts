/**
 * In-process: the batching channel between the front and its workers (src/pool/channel.ts), over a
 * real MessageChannel. Order is kept across batches, a batch of EAGER_BATCH goes at once, and
 * otherwise one turn of the event loop costs exactly one postMessage.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchChannel, EAGER_BATCH } from '../../src/pool/channel.js';

const open: MessagePort[] = [];

afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

/** A channel posting into a real port; `posts` counts postMessage calls, `received` what arrived. */
function wire(): { ch: BatchChannel<number>; posts: () => number; received: number[][]; arrived: (n: number) => Promise<void> } {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  let posts = 0;
  const received: number[][] = [];
  let waiters: Array<() => void> = [];
  port2.on('message', (batch: number[]) => {
    received.push(batch);
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  const ch = new BatchChannel<number>({
    postMessage: (batch: number[]) => {
      posts++;
      port1.postMessage(batch);
    },
  });
  const arrived = async (n: number): Promise<void> => {
    while (received.flat().length < n) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { ch, posts: () => posts, received, arrived };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('BatchChannel', () => {
  it('keeps the order of messages across eager and end-of-turn batches', async () => {
    const { ch, received, arrived } = wire();
    const n = EAGER_BATCH * 3 + 2;
    for (let i = 0; i < n; i++) ch.push(i);
    await arrived(n);
    expect(received.flat()).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(received.map((b) => b.length)).toEqual([EAGER_BATCH, EAGER_BATCH, EAGER_BATCH, 2]);
  });

  it('posts a full batch at once, without waiting for the end of the turn', () => {
    const { ch, posts } = wire();
    for (let i = 0; i < EAGER_BATCH - 1; i++) ch.push(i);
    expect(posts()).toBe(0);
    ch.push(EAGER_BATCH - 1);
    expect(posts()).toBe(1);
    expect(ch.pending).toBe(0);
  });

  it('otherwise posts once per turn, however many messages the turn pushed', async () => {
    const { ch, posts, received, arrived } = wire();
    ch.push(1);
    ch.push(2);
    ch.push(3);
    expect(posts()).toBe(0);
    await nextTurn();
    expect(posts()).toBe(1);
    ch.push(4);
    await nextTurn();
    expect(posts()).toBe(2);
    // A turn that pushed nothing posts nothing.
    await nextTurn();
    expect(posts()).toBe(2);
    await arrived(4);
    expect(received).toEqual([[1, 2, 3], [4]]);
  });

  it('flush() posts what is queued now; close() drops it and takes nothing more', async () => {
    const { ch, posts, received, arrived } = wire();
    ch.push(1);
    ch.flush();
    expect(posts()).toBe(1);
    ch.push(2);
    ch.close();
    ch.push(3);
    await nextTurn();
    expect(posts()).toBe(1);
    await arrived(1);
    expect(received).toEqual([[1]]);
  });
});
