// A tool module in the SDK v2 shape: `npm start -- --tools ./examples/my-tools-v2.mjs`.
// Schemas are zod 4 objects (Standard Schema), handlers read `ctx.mcpReq`, and a tool that needs the
// user's input returns `inputRequired(...)`: a 2026-07-28 client answers it and retries (on any node);
// on a 2025 session the runtime sends the client a real elicitation request and runs the handler again.
// The helpers are the SDK v2's own. This repository's `zod` is zod 3 (the SDK v1 example), so zod 4
// comes in under the alias `zod-v4`; in a project of your own it is plain `zod`.
import * as z from 'zod-v4';
import { acceptedContent, completable, inputRequired } from '@modelcontextprotocol/server';

const Confirmation = z.object({ confirm: z.boolean().describe('Go ahead?') });

export default function register(server) {
  server.setServerInfo({ name: 'my-tools-v2', version: '1.0.0' });

  // Input and output schemas as zod 4 objects: validated here, listed as JSON Schema 2020-12.
  server.registerTool(
    'add',
    {
      description: 'Adds two numbers',
      inputSchema: z.object({ a: z.number().describe('first addend'), b: z.number().describe('second addend') }),
      outputSchema: z.object({ sum: z.number() }),
    },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } }),
  );

  // Progress through ctx.mcpReq.notify, cancellation through ctx.mcpReq.signal.
  server.registerTool(
    'countdown',
    { description: 'Counts down, reporting progress', inputSchema: z.object({ from: z.number().int().min(1).max(5) }) },
    async ({ from }, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      for (let i = from; i > 0; i--) {
        if (ctx.mcpReq.signal.aborted) break;
        if (token !== undefined) {
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken: token, progress: from - i + 1, total: from },
          });
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return { content: [{ type: 'text', text: 'lift-off' }] };
    },
  );

  // A multi-round-trip tool. The state (here the target) comes back sealed by the runtime, so the
  // client cannot change what it is asked to confirm between the two rounds.
  server.registerTool(
    'deploy',
    { description: 'Deploys after the user confirms', inputSchema: z.object({ env: z.enum(['staging', 'production']) }) },
    async ({ env }, ctx) => {
      const target = ctx.mcpReq.requestState();
      if (target === undefined) {
        return inputRequired({
          inputRequests: { confirm: inputRequired.elicit({ message: `Deploy to ${env}?`, requestedSchema: Confirmation }) },
          requestState: env,
        });
      }
      const answer = acceptedContent(ctx.mcpReq.inputResponses, 'confirm', Confirmation);
      return { content: [{ type: 'text', text: answer?.confirm ? `deployed to ${target}` : `${target} left as it is` }] };
    },
  );

  // ctx.http.authInfo is undefined: this runtime authenticates no client.
  server.registerTool('whoami', { description: 'Who is calling', inputSchema: z.object({}) }, async (_args, ctx) => ({
    content: [{ type: 'text', text: `${ctx.http?.authInfo?.clientId ?? 'anonymous'} (${ctx.mcpReq.method})` }],
  }));

  // completable(...) offers completions, also on an optional argument.
  server.registerPrompt(
    'review',
    {
      description: 'Asks for a code review',
      argsSchema: z.object({
        language: completable(z.string().describe('Programming language'), (v) =>
          ['go', 'javascript', 'typescript'].filter((l) => l.startsWith(v)),
        ),
        tone: completable(z.string(), (v) => ['friendly', 'frank'].filter((t) => t.startsWith(v))).optional(),
      }),
    },
    async ({ language, tone }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Review this ${language} code${tone ? `, ${tone}` : ''}.` } }],
    }),
  );

  server.registerResource('about', 'about://my-tools-v2', { mimeType: 'text/plain' }, async (uri, ctx) => ({
    contents: [{ uri: uri.href, text: `read through ${ctx.mcpReq.method}` }],
  }));
}
