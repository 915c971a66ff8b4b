/**
 * Rates of the storm report from node counters: exact on the node's own clock when readings arrive
 * late (a busy load generator), flagged as gaps without it; bystanders counted once per client.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNodeMetrics, type NodeReading, type Sample } from '../lib/storm-sampler.js';
import { bystanderCount, nodeRate, rate, unflagged } from '../lib/storm-summary.js';

function reading(created: number, clock: number | null): NodeReading {
  return { ...parseNodeMetrics(''), created, startTime: 1000, clock };
}

/** A sample asked for at `t` ms whose readings arrived `lateMs` later. */
function sample(t: number, lateMs: number, node: NodeReading | null): Sample {
  return {
    t,
    tRead: t + lateMs,
    nodes: { node1: node },
    redisCommands: null,
    machineBusy: null,
    loadgenCpu: 0,
    childCores: {},
    othersCores: null,
    loadgenLagP99Ms: 0,
    loadgenLagMaxMs: 0,
    clients: { sessions: 0, streams: 0, recovering: 0 },
  };
}

void test('the node clock is read from /metrics', () => {
  const r = parseNodeMetrics('# HELP mcp_node_time_seconds x\nmcp_node_time_seconds 1765152000.25\nmcp_sessions_created_total 7\n');
  assert.equal(r.clock, 1765152000.25);
  assert.equal(r.created, 7);
  assert.equal(parseNodeMetrics('mcp_sessions_created_total 7\n').clock, null);
});

void test("late readings give exact rates on the node's clock, and only an interval over 2 s is a gap", () => {
  // The load generator asked once a second but the answers came 600 ms late and the asks drifted;
  // the node read its counters 1 s apart, then 1.8 s (a late scrape), then 3 s (a missed one).
  const samples = [
    sample(0, 600, reading(0, 100)),
    sample(1400, 600, reading(250, 101)),
    sample(2100, 600, reading(790, 102.8)),
    sample(5000, 600, reading(1390, 105.8)),
  ];
  const r = nodeRate(samples, 'node1', (n) => n.created);
  assert.deepEqual(
    r.points.map(([, y]) => (y === null ? null : Math.round(y))),
    [250, 300, 200],
  );
  assert.deepEqual(r.flagged, [5]);
  assert.deepEqual(
    unflagged(r).map(([, y]) => (y === null ? null : Math.round(y))),
    [250, 300, null],
  );
});

void test("without the node's clock, late readings are flagged and left out of peaks", () => {
  const samples = [sample(0, 600, reading(0, null)), sample(1000, 600, reading(250, null)), sample(2000, 0, reading(550, null))];
  const r = rate(samples, (s) => s.nodes.node1?.created ?? null);
  assert.deepEqual(
    r.points.map(([, y]) => y),
    [250, 300],
  );
  // The first interval starts and ends with a late reading, the second starts with one.
  assert.deepEqual(r.flagged, [1, 2]);
});

void test('a restarted node gives no rate across its restart, even on its own clock', () => {
  const restarted = { ...reading(10, 102), startTime: 2000 };
  const r = nodeRate(
    [sample(0, 0, reading(500, 100)), sample(1000, 0, reading(600, 101)), sample(2000, 0, restarted)],
    'node1',
    (n) => n.created,
  );
  assert.deepEqual(
    r.points.map(([, y]) => y),
    [100, null],
  );
});

void test('bystanders are the clients no event touched, each client counted once', () => {
  // A rolling restart: client 0 moved from node1 to node2, and both were restarted.
  const incidents = [{ client: 0 }, { client: 1 }, { client: 0 }, { client: 2 }, { client: 1 }];
  assert.equal(bystanderCount(5, incidents), 2);
  assert.equal(bystanderCount(3, incidents), 0);
});
