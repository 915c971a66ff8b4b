// A tool module: `npm start -- --tools ./examples/my-tools.mjs` (or MCP_TOOLS=./examples/my-tools.mjs).
// It runs once in every session worker; what it registers is shared by that worker's sessions.
import { z } from 'zod';
import { ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';

export default function register(server) {
  server.setServerInfo({ name: 'my-tools', version: '1.0.0' });

  // zod raw shape as input; `extra` carries the session, the abort signal and server→client messaging.
  server.registerTool(
    'countdown',
    { description: 'Counts down, reporting progress', inputSchema: { from: z.number().int().min(1).max(10) } },
    async ({ from }, extra) => {
      const token = extra._meta?.progressToken;
      for (let i = from; i > 0; i--) {
        if (extra.signal.aborted) break;
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress: from - i + 1, total: from },
          });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return { content: [{ type: 'text', text: `lift-off (session ${extra.sessionId})` }] };
    },
  );

  // Plain JSON Schema works too; server→client requests go through extra.sendRequest.
  server.registerTool(
    'ask_name',
    { description: 'Asks the user for a name', inputSchema: { type: 'object', properties: {} } },
    async (_args, extra) => {
      const answer = await extra.sendRequest({
        method: 'elicitation/create',
        params: {
          message: 'Your name?',
          requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        },
      });
      return { content: [{ type: 'text', text: answer.action === 'accept' ? `hello ${answer.content.name}` : 'no name given' }] };
    },
  );

  server.registerResource('readme', 'docs://readme', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'Read me.' }],
  }));

  server.registerResource(
    'user',
    new ResourceTemplate('users://{id}', {
      list: undefined,
      complete: { id: (v) => ['ada', 'alan', 'grace'].filter((n) => n.startsWith(v)) },
    }),
    { mimeType: 'application/json' },
    async (uri, { id }) => ({ contents: [{ uri: uri.href, text: JSON.stringify({ id }) }] }),
  );

  server.registerPrompt(
    'greet',
    { description: 'A greeting', argsSchema: { name: completable(z.string(), (v) => ['Ada', 'Alan'].filter((n) => n.startsWith(v))) } },
    async ({ name }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Say hello to ${name}` } }] }),
  );
}
