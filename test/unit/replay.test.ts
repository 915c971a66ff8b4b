/** In-process: per-stream replay buffers and Last-Event-ID resumption (workers/session.ts). */
import { describe, expect, it } from 'vitest';
import type { EventOut, ToFront } from '../../src/pool/messages.js';
import { emit, newStream, resume, Session, type FrontSink } from '../../workers/session.js';

function recorder(): { out: FrontSink; sent: ToFront[] } {
  const sent: ToFront[] = [];
  return { out: { push: (m: ToFront) => void sent.push(m) }, sent };
}

const LIMITS = { replayEvents: 3, keptStreams: 2 };

describe('replay buffer', () => {
  it('ids encode the stream; only the last replayEvents events are kept', () => {
    const { out, sent } = recorder();
    const s = new Session('sid', '2025-11-25');
    const stream = newStream(4, 11);
    for (let i = 1; i <= 5; i++) emit(out, s, stream, `{"n":${i}}`, false, LIMITS);
    expect(sent.map((m) => (m as EventOut).eventId)).toEqual(['4_1', '4_2', '4_3', '4_4', '4_5']);
    expect(stream.buf.map((e) => e[1])).toEqual(['4_3', '4_4', '4_5']);
  });

  it('resumes after Last-Event-ID with exactly the events that followed it, on the new connection', () => {
    const { out, sent } = recorder();
    const s = new Session('sid', '2025-11-25');
    const stream = newStream(0, 0);
    for (let i = 1; i <= 3; i++) emit(out, s, stream, `{"n":${i}}`, false, LIMITS);
    expect(sent).toEqual([]);
    resume(out, s, stream, 21, 1);
    expect(sent.map((m) => [(m as EventOut).exchange, (m as EventOut).eventId])).toEqual([
      [21, '0_2'],
      [21, '0_3'],
    ]);
    expect(stream.conn).toBe(21);
  });

  it('a finished, detached POST stream is kept for resumption (bounded per session) and ends the replay', () => {
    const { out, sent } = recorder();
    const s = new Session('sid', '2025-11-25');
    const streams = [1, 2, 3].map((id) => newStream(id, 0));
    for (const st of streams) emit(out, s, st, '{"result":1}', true, LIMITS);
    // keptStreams = 2: the oldest finished one was let go.
    expect([...s.streams!.keys()]).toEqual([2, 3]);
    resume(out, s, streams[2], 30, 0);
    expect(sent).toEqual([{ type: 'event', exchange: 30, eventId: '3_1', body: '{"result":1}', end: true }]);
    expect(s.streams!.has(3)).toBe(false);
  });

  it('a resume with nothing new on a finished stream ends the new connection at once', () => {
    const { out, sent } = recorder();
    const s = new Session('sid', '2025-11-25');
    const st = newStream(5, 0);
    emit(out, s, st, '{"result":1}', true, LIMITS);
    resume(out, s, st, 40, 1);
    expect(sent).toEqual([{ type: 'event', exchange: 40, eventId: '', body: '', end: true }]);
  });
});
