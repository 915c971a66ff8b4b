/** The official SDK client drives the node, including a dropped GET stream resumed. */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, startServer, type TestServer } from './helpers/server.js';
import { waitFor, watchGetStreams } from './helpers/wait.js';

let demo: TestServer;
let fixture: TestServer;

beforeAll(async () => {
  [demo, fixture] = await Promise.all([startServer(), startServer({ args: ['--tools', 'test/fixtures/tools.mjs'] })]);
});
afterAll(async () => {
  await Promise.all([demo?.stop(), fixture?.stop()]);
});

async function connectClient(
  url: string,
  capabilities: Record<string, unknown> = {},
  reconnectDelay = 50,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport; getStream: () => Promise<void> }> {
  const client = new Client({ name: 'sdk-test', version: '1.0.0' }, { capabilities });
  const streams = watchGetStreams();
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: streams.fetch,
    reconnectionOptions: {
      initialReconnectionDelay: reconnectDelay,
      maxReconnectionDelay: reconnectDelay * 4,
      reconnectionDelayGrowFactor: 1.5,
      maxRetries: 20,
    },
  });
  await client.connect(transport);
  return { client, transport, getStream: streams.opened };
}

function until(pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (pred()) return resolve();
      if (Date.now() > deadline) return reject(new Error('condition not met in time'));
      setTimeout(tick, 20);
    };
    tick();
  });
}

describe('official SDK client against the everything demo', () => {
  it('lists and calls tools, resources and prompts', async () => {
    const { client } = await connectClient(demo.url);
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('test_simple_text');
    const r = await client.callTool({ name: 'test_simple_text', arguments: {} });
    expect((r.content as Array<{ type: string }>)[0].type).toBe('text');
    const res = await client.readResource({ uri: 'test://static-text' });
    expect(res.contents[0].uri).toBe('test://static-text');
    const prompts = await client.listPrompts();
    expect(prompts.prompts.length).toBeGreaterThan(0);
    const err = await client.callTool({ name: 'test_error_handling', arguments: {} });
    expect(err.isError).toBe(true);
    await client.close();
  });

  it('delivers progress and log notifications on the request stream, filtered by level', async () => {
    const { client } = await connectClient(demo.url);
    const progress: number[] = [];
    await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(progress).toEqual([0, 50, 100]);
    const logs: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params.level);
    });
    await client.setLoggingLevel('debug');
    await client.callTool({ name: 'test_tool_with_logging', arguments: {} });
    expect(logs.length).toBe(3);
    await client.setLoggingLevel('error');
    await client.callTool({ name: 'test_tool_with_logging', arguments: {} });
    expect(logs.length).toBe(3);
    await client.close();
  });

  it('answers server→client sampling and elicitation requests', async () => {
    const { client } = await connectClient(demo.url, { sampling: {}, elicitation: {} });
    client.setRequestHandler(CreateMessageRequestSchema, () => ({
      model: 'test-model',
      role: 'assistant',
      content: { type: 'text', text: 'sampled answer' },
    }));
    client.setRequestHandler(ElicitRequestSchema, () => ({
      action: 'accept',
      content: { username: 'ada', email: 'ada@example.com' },
    }));
    const s = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'hi' } });
    expect(JSON.stringify(s.content)).toContain('sampled answer');
    const e = await client.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } });
    expect(JSON.stringify(e.content)).toContain('accept');
    await client.close();
  });

  it('terminates the session with DELETE; the id then answers 404', async () => {
    const { client, transport } = await connectClient(demo.url);
    const sid = transport.sessionId!;
    await transport.terminateSession();
    const res = await fetch(demo.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(res.status).toBe(404);
    await client.close();
  });
});

describe('official SDK client against a user tool module', () => {
  it('answers roots/list and resource subscriptions on the GET stream', async () => {
    const { client, getStream } = await connectClient(fixture.url, { roots: { listChanged: true } });
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
    const r = await client.callTool({ name: 'roots', arguments: {} });
    expect(JSON.stringify(r.content)).toContain('file:///work');
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    await client.subscribeResource({ uri: 'note://one' });
    // The SDK opens the GET stream after initialized; wait until it is attached.
    await getStream();
    await client.callTool({ name: 'touch', arguments: { uri: 'note://one' } });
    await until(() => updates.length === 1);
    const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
    expect(sum.structuredContent).toEqual({ sum: 42 });
    await client.close();
  });

  it('announces list changes on the GET stream', async () => {
    const { client, getStream } = await connectClient(fixture.url);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    await getStream();
    await client.callTool({ name: 'grow', arguments: {} });
    await until(() => changed === 1);
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('grown');
    await client.close();
  });

  it('resumes a dropped GET stream with Last-Event-ID and loses no notification', async () => {
    // A TCP proxy between client and node, so the GET stream can be cut like a flaky network would.
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((down) => {
      const up = connect(fixture.port, '127.0.0.1');
      sockets.add(down);
      sockets.add(up);
      down.pipe(up).pipe(down);
      const drop = (): void => {
        down.destroy();
        up.destroy();
        sockets.delete(down);
        sockets.delete(up);
      };
      down.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as { port: number }).port;
    try {
      const streamsBefore = await metricValue(fixture.base, 'mcp_sse_streams_active');
      const { client, getStream } = await connectClient(`http://127.0.0.1:${port}/mcp`, {}, 3000);
      const updates: number[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => {
        updates.push(updates.length);
      });
      await client.subscribeResource({ uri: 'note://one' });
      await getStream();
      await client.callTool({ name: 'touch', arguments: { uri: 'note://one' } });
      await until(() => updates.length === 1);
      // Cut every connection (the GET stream with it). The client waits 3 s before it
      // reconnects; the three updates sent meanwhile exist only in the session's replay buffer.
      for (const s of [...sockets]) s.destroy();
      // The node has seen the GET stream go (it stays attached to the session until then).
      await waitFor(
        async () => (await metricValue(fixture.base, 'mcp_sse_streams_active')) === streamsBefore,
        10_000,
        'the cut stream to be detached',
      );
      const cutAt = Date.now();
      for (let i = 0; i < 3; i++) await client.callTool({ name: 'touch', arguments: { uri: 'note://one' } });
      expect(Date.now() - cutAt).toBeLessThan(2500);
      expect(updates.length).toBe(1);
      await until(() => updates.length === 4, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      // Exactly once each: nothing lost, nothing replayed twice.
      expect(updates.length).toBe(4);
      await client.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });
});
