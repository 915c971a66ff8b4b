/**
 * The official clients through the local cluster (redis-server, three nodes, HAProxy from
 * src/cluster/local/), with no cookie jar (Node's fetch keeps no cookies, so the sticky cookie the
 * balancer sets is never sent back): the SDK v2 client pinned to 2026-07-28, in `auto` mode and in
 * its default (legacy) mode, and the SDK v1 client. Each lists tools, calls one that names the node
 * serving it, and completes an `input_required` tool through its elicitation handler
 * (test/fixtures/node-tools.mjs, in the SDK v2 shape).
 *
 * Modern requests are stateless: the balancer spreads them over the nodes, and a retry with its
 * sealed requestState is finished by a node other than the one that asked. A 2025 session stays on
 * its owner (the node named in its session id, which the balancer routes on), and the sessions of
 * several clients are spread over the nodes.
 */
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerOf } from '../bench/lib/mcp-client.js';
import { startTestCluster, type Cluster } from './helpers/cluster.js';

const ANSWER = { action: 'accept', content: { name: 'Ada' } };

/** One connected client, the same for both SDKs. */
interface Conn {
  era(): 'modern' | 'legacy';
  tools(): Promise<string[]>;
  /** The text of the tool's first content item. */
  call(name: string): Promise<string>;
  sessionId(): string | undefined;
  close(): Promise<void>;
}

type Mode = 'legacy' | 'auto' | { pin: '2026-07-28' };

async function v2(url: string, mode: Mode): Promise<Conn> {
  const client = new ClientV2(
    { name: 'cluster-v2', version: '1.0.0' },
    { versionNegotiation: { mode }, capabilities: { elicitation: { form: {} } } },
  );
  client.setRequestHandler('elicitation/create', () => ANSWER as never);
  const transport = new TransportV2(new URL(url));
  await client.connect(transport);
  return {
    era: () => client.getProtocolEra() as 'modern' | 'legacy',
    tools: async () => (await client.listTools()).tools.map((t) => t.name),
    call: async (name) => ((await client.callTool({ name, arguments: {} })).content as Array<{ text: string }>)[0].text,
    sessionId: () => transport.sessionId,
    close: () => client.close(),
  };
}

async function v1(url: string): Promise<Conn> {
  const client = new ClientV1({ name: 'cluster-v1', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, () => ANSWER as never);
  const transport = new TransportV1(new URL(url));
  await client.connect(transport);
  return {
    era: () => 'legacy',
    tools: async () => (await client.listTools()).tools.map((t) => t.name),
    call: async (name) => ((await client.callTool({ name, arguments: {} })).content as Array<{ text: string }>)[0].text,
    sessionId: () => transport.sessionId,
    close: () => client.close(),
  };
}

const CLIENTS: ReadonlyArray<{ label: string; era: 'modern' | 'legacy'; open: (url: string) => Promise<Conn> }> = [
  { label: 'SDK v2 client pinned to 2026-07-28', era: 'modern', open: (url) => v2(url, { pin: '2026-07-28' }) },
  { label: 'SDK v2 client in auto mode', era: 'modern', open: (url) => v2(url, 'auto') },
  { label: 'SDK v2 client in legacy mode', era: 'legacy', open: (url) => v2(url, 'legacy') },
  { label: 'SDK v1 client', era: 'legacy', open: v1 },
];

/** Calls that show where requests land; sequential, so the balancer's round robin moves between them. */
const CALLS = 6;

describe('SDK clients through the HAProxy cluster, no cookie jar', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startTestCluster({ MCP_TOOLS: 'test/fixtures/node-tools.mjs' });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  for (const { label, era, open } of CLIENTS) {
    it(`${label}: lists, calls and completes input_required on the ${era} era`, async () => {
      const names = new Set(cluster.nodes.map((n) => n.name));
      const c = await open(cluster.lbUrl);
      try {
        expect(c.era()).toBe(era);
        expect((await c.tools()).sort()).toEqual(['ask', 'node']);
        const served: string[] = [];
        for (let i = 0; i < CALLS; i++) served.push(await c.call('node'));
        for (const n of served) expect(names.has(n), n).toBe(true);
        const asks: Array<{ askedOn: string; answeredOn: string; name: string }> = [];
        for (let i = 0; i < 3; i++) asks.push(JSON.parse(await c.call('ask')) as (typeof asks)[number]);
        for (const a of asks) expect(a.name).toBe('Ada');
        if (era === 'modern') {
          expect(c.sessionId()).toBeFalsy();
          expect(new Set(served).size).toBeGreaterThan(1);
          expect(asks.some((a) => a.askedOn !== a.answeredOn)).toBe(true);
        } else {
          const owner = ownerOf(c.sessionId() ?? '');
          expect(names.has(owner), owner).toBe(true);
          expect(new Set(served)).toEqual(new Set([owner]));
          for (const a of asks) expect(a).toMatchObject({ askedOn: owner, answeredOn: owner });
        }
      } finally {
        await c.close();
      }
    });
  }

  it('spreads the 2025 sessions of several cookie-less clients over the nodes, each served by its owner', async () => {
    const clients: Conn[] = [];
    const legacy = CLIENTS.filter((k) => k.era === 'legacy');
    try {
      // Opened one after another: each initialize is the balancer's next round-robin pick.
      for (const k of [...legacy, ...legacy]) clients.push(await k.open(cluster.lbUrl));
      const owners = clients.map((c) => ownerOf(c.sessionId() ?? ''));
      expect(new Set(owners).size).toBeGreaterThan(1);
      for (let i = 0; i < clients.length; i++) expect(await clients[i].call('node')).toBe(owners[i]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
