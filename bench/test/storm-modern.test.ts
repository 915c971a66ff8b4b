/**
 * The pure parts of the storm's modern fleet (lib/storm-modern.ts, lib/storm-options.ts): the
 * 2026-07-28 request builders, the listen stream parser, the accounting of change events owed to
 * and lost by each listen stream, and a run's summary from synthetic observations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  accountConn,
  accountListen,
  Announcements,
  classOf,
  listenBody,
  ListenConn,
  listenMessage,
  MAX_SSE_EVENT_CHARS,
  META_PROTOCOL_VERSION,
  MODERN_VERSION,
  modernCallBodyFactory,
  modernHeaders,
  nodeOfSetCookie,
  pendingFor,
  slotOfUri,
  SseParser,
  tickCallBody,
  TICK_SLOTS,
  TICK_TOOL,
  tickUri,
} from '../lib/storm-modern.js';
import { parseStormArgs, STORM_DEFAULTS } from '../lib/storm-options.js';
import { UsageError } from '../lib/args.js';
import registerStormTools from '../storm-tools.js';
import { ModernRecorder } from '../lib/storm-modern-fleet.js';
import type { ModernRunData } from '../lib/storm-modern-run.js';
import { summarizeModern } from '../lib/storm-modern-summary.js';
import { parseNodeMetrics, type NodeReading, type Sample } from '../lib/storm-sampler.js';

interface Body {
  jsonrpc: string;
  id: number;
  method: string;
  params: { name?: string; arguments?: Record<string, unknown>; notifications?: Record<string, unknown>; _meta: Record<string, unknown> };
}

void test('tick uris name a slot, and only tick uris in range do', () => {
  for (const slot of [0, 1, TICK_SLOTS - 1]) assert.equal(slotOfUri(tickUri(slot)), slot);
  for (const bad of [tickUri(TICK_SLOTS), 'storm://tick/', 'storm://tick/-1', 'storm://tick/1x', 'test://doc', 42, undefined])
    assert.equal(slotOfUri(bad), -1, String(bad));
});

void test('a modern tools/call carries its own _meta, and its headers mirror the method and the tool', () => {
  const body = JSON.parse(modernCallBodyFactory('c', 'echo', { text: 'storm' })(7)) as Body;
  assert.equal(body.id, 7);
  assert.equal(body.method, 'tools/call');
  assert.equal(body.params.name, 'echo');
  assert.deepEqual(body.params.arguments, { text: 'storm' });
  assert.equal(body.params._meta[META_PROTOCOL_VERSION], MODERN_VERSION);
  assert.deepEqual(body.params._meta['io.modelcontextprotocol/clientInfo'], { name: 'c', version: '1' });
  assert.deepEqual(body.params._meta['io.modelcontextprotocol/clientCapabilities'], {});
  const h = modernHeaders('tools/call', 'echo');
  assert.equal(h['mcp-protocol-version'], MODERN_VERSION);
  assert.equal(h['mcp-method'], body.method);
  assert.equal(h['mcp-name'], body.params.name);
  assert.equal(h['mcp-session-id'], undefined);
  assert.equal(h.cookie, undefined);
  assert.equal(modernHeaders('subscriptions/listen')['mcp-name'], undefined);
});

void test("the announcer's call names event n's slot; a listen subscribes to every slot and both list changes", () => {
  const tick = JSON.parse(tickCallBody('c', 3, TICK_SLOTS + 5)) as Body;
  assert.equal(tick.params.name, TICK_TOOL);
  assert.deepEqual(tick.params.arguments, { slot: 5 });
  assert.equal(tick.params._meta[META_PROTOCOL_VERSION], MODERN_VERSION);
  const listen = JSON.parse(listenBody('c', 9)) as Body;
  assert.equal(listen.method, 'subscriptions/listen');
  assert.equal(listen.id, 9);
  const n = listen.params.notifications!;
  assert.equal(n.toolsListChanged, true);
  assert.equal(n.promptsListChanged, true);
  const uris = n.resourceSubscriptions as string[];
  // A node accepts at most 256 uris on one stream.
  assert.ok(uris.length === TICK_SLOTS && TICK_SLOTS <= 256);
  assert.deepEqual(
    uris.map((u) => slotOfUri(u)),
    Array.from({ length: TICK_SLOTS }, (_, i) => i),
  );
});

void test("the node a stream is on comes from the balancer's inserted cookie", () => {
  assert.equal(nodeOfSetCookie(['_mcp_backend=node2; path=/mcp; HttpOnly; Secure']), 'node2');
  assert.equal(nodeOfSetCookie(['other=1', '_mcp_backend=node3']), 'node3');
  assert.equal(nodeOfSetCookie(undefined), '');
  assert.equal(nodeOfSetCookie(['x_mcp_backend=node1']), '');
});

void test('the SSE parser returns whole events across chunks, joins data lines, and skips everything else', () => {
  const p = new SseParser();
  assert.deepEqual(p.feed(': stream open\n\nda'), []);
  assert.deepEqual(p.feed('ta: {"a":1}\r\n'), []);
  assert.deepEqual(p.feed('\r\nid: 4\nretry: 100\nevent: message\ndata:x\ndata: y\n\n'), ['{"a":1}', 'x\ny']);
  assert.deepEqual(p.feed('id: 5\n\n'), []);
  const q = new SseParser();
  assert.deepEqual(q.feed(`data: ${'z'.repeat(MAX_SSE_EVENT_CHARS + 1)}\n\ndata: ok\n\n`), ['ok']);
  assert.equal(q.oversized, 1);
  const r = new SseParser();
  assert.deepEqual(r.feed('data: '.padEnd(MAX_SSE_EVENT_CHARS + 10, 'z')), []);
  assert.equal(r.oversized, 1);
});

void test('a listen message is a notification with its method and, for an update, its uri', () => {
  assert.deepEqual(listenMessage('{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"storm://tick/3"}}'), {
    method: 'notifications/resources/updated',
    uri: 'storm://tick/3',
  });
  assert.deepEqual(listenMessage('{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}}'), {
    method: 'notifications/tools/list_changed',
    uri: '',
  });
  // Another layout, or escapes, take the JSON.parse path to the same answer.
  assert.deepEqual(
    listenMessage('{ "method": "notifications/resources/updated", "params": { "uri": "storm://tick/3" }, "jsonrpc": "2.0" }'),
    {
      method: 'notifications/resources/updated',
      uri: 'storm://tick/3',
    },
  );
  assert.deepEqual(listenMessage('{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a\\"b"}}'), {
    method: 'notifications/resources/updated',
    uri: 'a"b',
  });
  assert.equal(listenMessage('{"jsonrpc":"2.0","id":1,"result":{}}'), null);
  assert.equal(listenMessage('not json'), null);
  assert.equal(listenMessage('null'), null);
});

/** `n` events sent every 100 ms from t=1000, each answered 5 ms later; `failed` ones not ok. */
function announced(n: number, failed: number[] = []): Announcements {
  const a = new Announcements();
  for (let i = 0; i < n; i++) {
    const seq = a.sent(1000 + i * 100);
    a.answered(seq, 1000 + i * 100 + 5, !failed.includes(i));
  }
  return a;
}

void test('a notification stands for the latest event of its slot sent before it arrived, across slot reuse', () => {
  const a = announced(TICK_SLOTS * 2 + 3);
  const sentAt = (s: number): number => a.list[s].sentAt;
  assert.equal(a.resolve(2, sentAt(2) + 50), 2);
  assert.equal(a.resolve(2, sentAt(TICK_SLOTS + 2) + 50), TICK_SLOTS + 2);
  // Received before the slot's later event was sent: the earlier one.
  assert.equal(a.resolve(2, sentAt(TICK_SLOTS + 2) - 1), 2);
  assert.equal(a.resolve(1, sentAt(2 * TICK_SLOTS + 1)), 2 * TICK_SLOTS + 1);
  assert.equal(a.resolve(5, sentAt(5) - 1), -1);
  assert.equal(a.resolve(-1, 1e9), -1);
  assert.equal(a.resolve(TICK_SLOTS, 1e9), -1);
  assert.equal(new Announcements().resolve(0, 1e9), -1);
});

void test('a stream counts events received once; earlier events and unknown notifications apart', () => {
  const c = new ListenConn(1, 'node1', 1000, 10);
  assert.equal(c.got(12), true);
  assert.equal(c.got(12), false);
  assert.equal(c.got(9), true);
  assert.equal(c.got(-1), false);
  // Far past the first allocation: the bitmap grows.
  assert.equal(c.got(10 + 5000), true);
  assert.ok(c.has(12) && c.has(5010) && !c.has(11) && !c.has(9));
  assert.deepEqual(
    { received: c.received, duplicates: c.duplicates, early: c.early, unknown: c.unknown },
    {
      received: 3,
      duplicates: 1,
      early: 1,
      unknown: 1,
    },
  );
});

void test('a stream is owed the events sent after its acknowledgement, announced successfully, answered before it ended', () => {
  const a = announced(20, [7]);
  // Acknowledged when event 5 was next: events 0..4 are not owed.
  const open = new ListenConn(0, 'node1', 1450, 5);
  for (const s of [5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]) open.got(s);
  // Still open at the end: every successful event from 5 on; 7 failed (not owed), 19 missing.
  assert.deepEqual(accountConn(open, a, 1e9, 1000), { owed: 14, got: 13, lost: 1, lostSeqs: [19] });
  assert.equal(pendingFor(open, a), 1);
  // Ended (not by the kill) at 1700: events answered by then (5, 6, 8 answered at 1505, 1605, 1805...) are owed.
  const ended = new ListenConn(0, 'node1', 1450, 5);
  ended.closedAt = 1700;
  assert.deepEqual(accountConn(ended, a, 1e9, 1000), { owed: 2, got: 0, lost: 2, lostSeqs: [5, 6] });
  // Cut by the kill at 2710: owed only up to 1710 (events 5, 6), so event 8..16 on their way are not.
  const cut = new ListenConn(0, 'node2', 1450, 5);
  cut.got(5);
  cut.closedAt = 2710;
  cut.cut = true;
  assert.deepEqual(accountConn(cut, a, 1e9, 1000), { owed: 2, got: 1, lost: 1, lostSeqs: [6] });
});

void test('losses are added up by class of stream, by the second each event was sent, and by client', () => {
  const a = announced(30);
  const eventAt = 2000;
  // Kept: open before the kill, got everything.
  const kept = new ListenConn(0, 'node1', 900, 0);
  for (let s = 0; s < 30; s++) kept.got(s);
  // Cut at 2050 (its events up to 1050 owed: 0); it got 0 only after being acknowledged at 950.
  const cut = new ListenConn(1, 'node2', 950, 0);
  cut.cut = true;
  cut.closedAt = 2050;
  // The same client listening again at 2100 (event 11 next), missing events 20 and 21.
  const again = new ListenConn(1, 'node3', 2100, 11);
  for (let s = 11; s < 30; s++) if (s !== 20 && s !== 21) again.got(s);
  assert.equal(classOf(kept, eventAt), 'kept');
  assert.equal(classOf(cut, eventAt), 'cut');
  assert.equal(classOf(again, eventAt), 'reopened');
  assert.equal(classOf(again, null), 'kept');
  const acc = accountListen([kept, cut, again], a, 1e9, eventAt, 1000);
  assert.equal(acc.streams, 3);
  assert.deepEqual(acc.byClass.kept, { streams: 1, owed: 30, lost: 0, streamsWithLoss: 0 });
  assert.deepEqual(acc.byClass.cut, { streams: 1, owed: 1, lost: 1, streamsWithLoss: 1 });
  assert.deepEqual(acc.byClass.reopened, { streams: 1, owed: 19, lost: 2, streamsWithLoss: 1 });
  assert.equal(acc.owed, 50);
  assert.equal(acc.lost, 3);
  assert.equal(acc.got, 47);
  assert.deepEqual(acc.clientsWithLoss, [1]);
  // Event 0 sent at 1.0 s; events 20 and 21 at 3.0 and 3.1 s.
  assert.deepEqual(acc.lostBySecond, [0, 1, 0, 2]);
  assert.deepEqual(
    acc.examples.map((e) => [e.seq, e.class]),
    [
      [0, 'cut'],
      [20, 'reopened'],
      [21, 'reopened'],
    ],
  );
});

function usage(argv: string[]): string {
  try {
    parseStormArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  assert.fail(`no usage error for ${argv.join(' ')}`);
}

void test('--era modern runs the kill scenario with its own defaults; the 2025 fleet stays the default', () => {
  const def = parseStormArgs([]);
  assert.equal(def.era, '2025');
  assert.deepEqual(def.scenarios, ['kill']);
  assert.equal(def.tool, STORM_DEFAULTS.tool);
  const m = parseStormArgs(['--era', 'modern', '--clients', '100', '--announce-rate', '20']);
  assert.equal(m.era, 'modern');
  assert.equal(m.clients, 100);
  assert.equal(m.announceRate, 20);
  assert.match(usage(['--era', 'modern', '--scenario', 'rolling']), /--scenarios "rolling"/);
  assert.match(usage(['--era', 'modern', '--tool', 'x']), /--tool/);
  assert.match(usage(['--era', 'modern', '--no-cookies']), /cookie/);
  assert.match(usage(['--era', 'modern', '--post-sockets', '10']), /--post-sockets/);
  assert.match(usage(['--era', 'sessions']), /2025 \| modern/);
  assert.match(usage(['--announce-rate', '5']), /--era modern/);
  // A slot must not come round again within MIN_HORIZON_S at the rate asked for.
  assert.match(usage(['--era', 'modern', '--announce-rate', String(TICK_SLOTS)]), /--announce-rate/);
});

void test("the storm's tool module registers echo and a tick that announces its slot's resource update", async () => {
  const tools = new Map<string, (args: never) => unknown>();
  const updated: string[] = [];
  registerStormTools({
    registerTool: (name, _config, handler) => tools.set(name, handler),
    notifyResourceUpdated: (uri) => updated.push(uri),
  });
  assert.deepEqual([...tools.keys()].sort(), ['echo', TICK_TOOL].sort());
  const tick = tools.get(TICK_TOOL) as (args: { slot: number }) => unknown;
  assert.deepEqual(await tick({ slot: 3 }), { content: [{ type: 'text', text: 'tick 3' }] });
  assert.deepEqual(updated, [tickUri(3)]);
});

function reading(listeners: number, requests: number, cpuSeconds: number): NodeReading {
  const r = parseNodeMetrics('');
  return { ...r, listeners, requests, cpuSeconds, startTime: 1 };
}

void test('a modern run summary: streams cut and listening again, events lost by class, calls served again, targets', () => {
  const rec = new ModernRecorder();
  // Events 0..59, one every 100 ms from t = 1 s, each answered 5 ms later.
  for (let i = 0; i < 60; i++) rec.ann.answered(rec.ann.sent(1000 + i * 100), 1005 + i * 100, true);
  // Client 0: on node2 (killed at 3 s), cut at 3.05 s, listening again on node1 at 3.2 s (event 22 next), missing event 40.
  const cut = new ListenConn(0, 'node2', 500, 0);
  for (let s = 0; s < 21; s++) cut.got(s);
  cut.closedAt = 3050;
  cut.cut = true;
  const again = new ListenConn(0, 'node1', 3200, 22);
  for (let s = 22; s < 60; s++) if (s !== 40) again.got(s);
  again.closedAt = 8000;
  again.endedBy = 'stop';
  // Client 1: on node1 all along, got everything.
  const kept = new ListenConn(1, 'node1', 500, 0);
  for (let s = 0; s < 60; s++) kept.got(s);
  kept.closedAt = 8000;
  kept.endedBy = 'stop';
  rec.conns.push(cut, kept, again);
  rec.event = { label: 'SIGKILL node2', node: 'node2', at: 3000, affected: 1 };
  rec.listenIncidents.push({
    client: 0,
    node: 'node2',
    eventAt: 3000,
    cutAt: 3050,
    cutBy: 'stream abort',
    reAckAt: 3200,
    newNode: 'node1',
  });
  rec.callOutages.push({ client: 1, firstAt: 3010, firstError: 'ECONNRESET', failedAttempts: 1, servedAt: 3110 });
  for (let i = 0; i < 8; i++) {
    const s = rec.second(i * 1000 + 500);
    s.callsOk = 2;
    s.deliveryMs.push(10, 20);
    s.requestMs.push(3, 4);
  }
  Object.assign(rec.totals, { callsStarted: 16, callsOk: 16 });
  const samples: Sample[] = Array.from({ length: 8 }, (_, i) => ({
    t: i * 1000,
    tRead: i * 1000 + 5,
    nodes: { node1: reading(1, i * 10, i * 0.1), node2: i < 3 ? reading(1, i * 10, i * 0.1) : null },
    redisCommands: i,
    machineBusy: 0.5,
    loadgenCpu: 0.2,
    childCores: { haproxy: 0.05 },
    othersCores: 0,
    loadgenLagP99Ms: 1,
    loadgenLagMaxMs: 2,
    clients: { sessions: 0, streams: 2, recovering: 0 },
  }));
  const data: ModernRunData = {
    era: 'modern',
    plan: { name: 'kill-modern', scenario: 'kill', drainJitter: true },
    quiet: { busyCores: 0, waitedS: 0, quiet: true },
    clients: 2,
    callIntervalMs: 1000,
    announceRate: 10,
    startedAt: '',
    nodeNames: ['node1', 'node2'],
    lbUrl: '',
    env: {},
    killed: 'node2',
    marks: { rampStart: 100, rampEnd: 500, event: 3000, recovered: 3200, announceEnd: 7000, drained: 7100, end: 8000 },
    drainPending: 0,
    actions: [],
    rec,
    samples,
    nodeLogs: {},
  };
  const { summary: s } = summarizeModern(data);
  assert.deepEqual([s.listen.affected, s.listen.cut, s.listen.relistened, s.listen.unrecovered], [1, 1, 1, 0]);
  assert.equal(s.listen.fromCut.max, 150);
  assert.equal(s.listen.fromEvent.max, 200);
  assert.deepEqual(s.listen.newNode, { node1: 1 });
  // Cut at 3.05 s: owed events answered by 2.05 s (0..10), all received.
  assert.deepEqual(s.events.account.byClass.cut, { streams: 1, owed: 11, lost: 0, streamsWithLoss: 0 });
  assert.deepEqual(s.events.account.byClass.reopened, { streams: 1, owed: 38, lost: 1, streamsWithLoss: 1 });
  assert.deepEqual(s.events.account.byClass.kept, { streams: 1, owed: 60, lost: 0, streamsWithLoss: 0 });
  assert.equal(s.events.account.clientsWithLoss, 1);
  assert.deepEqual([s.calls.clientsWithFailures, s.calls.failedAttempts, s.calls.servedAgain.max], [1, 1, 100]);
  // Client 1 (stream on node1) is the one bystander: its failed call is counted apart, not as a disturbance.
  assert.deepEqual(s.bystanders, { clients: 1, disturbed: 0, streamDisturbed: 0, lostEvents: 0, withFailedCalls: 1 });
  assert.equal(s.delivery.steady.max, 20);
  const [latency, lost] = s.targets;
  assert.equal(latency.met, true);
  assert.equal(lost.met, false);
  assert.match(lost.measured, /^1 of 109 /);
  assert.ok(s.targets.slice(2).every((t) => t.met === null));
});
