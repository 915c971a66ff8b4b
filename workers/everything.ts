/**
 * The built-in default tool module ("everything" server).
 *
 * Registers every tool, resource, resource template, prompt and completion that the server scenarios of
 * the MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.16, `conformance server --suite all`)
 * expect. Each registration names the scenario it serves; `test/conformance-expectations.md` lists what
 * every scenario checks, including the transport-only ones.
 *
 * Definitions are registered once per session worker and shared by all of that worker's sessions, so the
 * only mutable state here (the watched resource's revision) is per worker, not per session.
 */
import { z } from 'zod';
import { CreateMessageResultSchema, ElicitResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { ResourceTemplate, completable } from './api.js';
import type { HandlerExtra, McpServerApi, ReadResourceResult, ToolResult } from './api.js';
import { registerModern } from './everything-modern.js';

// ---------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------

/** A 1x1 red pixel PNG (8-bit RGB). */
const RED_PIXEL_PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mP4z8AAAAMBAQD3A0FDAAAAAElFTkSuQmCC';

/** A minimal WAV file: 8 kHz mono 8-bit PCM, eight samples of silence. */
const SILENT_WAV_BASE64 = 'UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==';

/** `logger` field of the log notifications this module sends. */
const LOGGER = 'everything';

/** The tool input schema for tools without arguments: a plain JSON Schema object. */
const NO_ARGS = { type: 'object', properties: {} } as const;

/**
 * SEP-1613 and SEP-2106: must reach `tools/list` verbatim ($schema, $defs, additionalProperties, and
 * the 2020-12 vocabulary: $anchor, allOf/anyOf, if/then/else are checked).
 */
const JSON_SCHEMA_2020_12_INPUT = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: {
        street: { type: 'string' },
        city: { type: 'string' },
      },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
};

/** SEP-1034: one field per primitive type, each with a default. */
const SEP1034_REQUESTED_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'User name', default: 'John Doe' },
    age: { type: 'integer', description: 'User age', default: 30 },
    score: { type: 'number', description: 'User score', default: 95.5 },
    status: {
      type: 'string',
      description: 'User status',
      enum: ['active', 'inactive', 'pending'],
      default: 'active',
    },
    verified: { type: 'boolean', description: 'Verification status', default: true },
  },
  required: [],
};

/** SEP-1330: the five enum variants, under the property names the scenario looks up. */
const SEP1330_REQUESTED_SCHEMA = {
  type: 'object',
  properties: {
    untitledSingle: {
      type: 'string',
      description: 'Untitled single-select',
      enum: ['option1', 'option2', 'option3'],
    },
    titledSingle: {
      type: 'string',
      description: 'Titled single-select',
      oneOf: [
        { const: 'value1', title: 'First Option' },
        { const: 'value2', title: 'Second Option' },
        { const: 'value3', title: 'Third Option' },
      ],
    },
    legacyEnum: {
      type: 'string',
      description: 'Legacy titled single-select (enumNames, deprecated)',
      enum: ['opt1', 'opt2', 'opt3'],
      enumNames: ['Option One', 'Option Two', 'Option Three'],
    },
    untitledMulti: {
      type: 'array',
      description: 'Untitled multi-select',
      items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
    },
    titledMulti: {
      type: 'array',
      description: 'Titled multi-select',
      items: {
        anyOf: [
          { const: 'value1', title: 'First Choice' },
          { const: 'value2', title: 'Second Choice' },
          { const: 'value3', title: 'Third Choice' },
        ],
      },
    },
  },
  required: [],
};

/** Completion candidates for `test_prompt_with_arguments.arg1` (completion-complete). */
const ARG1_CANDIDATES = ['paris', 'park', 'party', 'test', 'testing', 'tested'];

/** Completion candidates for the `{id}` variable of `test://template/{id}/data`. */
const TEMPLATE_ID_CANDIDATES = ['1', '2', '3', '42', '123'];

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

type LogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';

/** Resolves after `ms`; rejects with the abort reason if the request is cancelled first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function text(value: string): ToolResult {
  return { content: [{ type: 'text', text: value }] };
}

function errorResult(message: string): ToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Sends a `notifications/message` log entry on the request's stream (the core filters by log level). */
function log(extra: HandlerExtra, level: LogLevel, data: unknown): Promise<void> {
  return extra.sendNotification({ method: 'notifications/message', params: { level, logger: LOGGER, data } });
}

/** Sends `notifications/progress` if the request carried `_meta.progressToken`; otherwise does nothing. */
async function progress(extra: HandlerExtra, value: number, total: number, message?: string): Promise<void> {
  const progressToken = extra._meta?.progressToken;
  if (typeof progressToken !== 'string' && typeof progressToken !== 'number') return;
  await extra.sendNotification({
    method: 'notifications/progress',
    params: { progressToken, progress: value, total, ...(message !== undefined && { message }) },
  });
}

/** Sends `elicitation/create` (form mode) and describes the client's answer. */
async function elicit(extra: HandlerExtra, message: string, requestedSchema: Record<string, unknown>) {
  const result = await extra.sendRequest<{ action?: string; content?: unknown }>(
    { method: 'elicitation/create', params: { message, requestedSchema } },
    ElicitResultSchema,
    {
      signal: extra.signal,
    },
  );
  return `action=${String(result?.action)}, content=${JSON.stringify(result?.content ?? {})}`;
}

/** The text of a `sampling/createMessage` result (content may be one block or an array). */
function samplingText(result: { content?: unknown }): string {
  const blocks: unknown[] = Array.isArray(result.content) ? result.content : [result.content];
  const texts: string[] = [];
  for (const b of blocks) {
    const block = b as { type?: unknown; text?: unknown } | null;
    if (block?.type === 'text' && typeof block.text === 'string') texts.push(block.text);
  }
  return texts.length > 0 ? texts.join('\n') : '(no text content)';
}

function startsWith(candidates: string[], prefix: string | undefined): string[] {
  const p = (prefix ?? '').toLowerCase();
  return candidates.filter((c) => c.toLowerCase().startsWith(p));
}

function firstValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

// ---------------------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------------------

function registerContentTools(server: McpServerApi): void {
  // tools-call-simple-text (called without an `arguments` key)
  server.registerTool(
    'test_simple_text',
    { title: 'Simple text', description: 'Returns a single text content block', inputSchema: NO_ARGS },
    () => text('This is a simple text response for testing.'),
  );

  // tools-call-image
  server.registerTool(
    'test_image_content',
    { title: 'Image content', description: 'Returns a 1x1 red PNG as image content', inputSchema: NO_ARGS },
    () => ({ content: [{ type: 'image', data: RED_PIXEL_PNG_BASE64, mimeType: 'image/png' }] }),
  );

  // tools-call-audio (mimeType must be exactly audio/wav)
  server.registerTool(
    'test_audio_content',
    { title: 'Audio content', description: 'Returns a tiny WAV file as audio content', inputSchema: NO_ARGS },
    () => ({ content: [{ type: 'audio', data: SILENT_WAV_BASE64, mimeType: 'audio/wav' }] }),
  );

  // tools-call-embedded-resource
  server.registerTool(
    'test_embedded_resource',
    { title: 'Embedded resource', description: 'Returns an embedded text resource', inputSchema: NO_ARGS },
    () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'test://embedded-resource',
            mimeType: 'text/plain',
            text: 'This is an embedded resource content.',
          },
        },
      ],
    }),
  );

  // tools-call-mixed-content
  server.registerTool(
    'test_multiple_content_types',
    {
      title: 'Mixed content',
      description: 'Returns text, image and embedded resource content together',
      inputSchema: NO_ARGS,
    },
    () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: RED_PIXEL_PNG_BASE64, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  );

  // tools-call-error: the failure is reported as a tool result with isError, not as a JSON-RPC error
  server.registerTool(
    'test_error_handling',
    { title: 'Error handling', description: 'Always fails with isError: true', inputSchema: NO_ARGS },
    () => errorResult('This tool intentionally returns an error for testing'),
  );

  // json-schema-2020-12: the input schema is a plain JSON Schema object, listed verbatim
  server.registerTool(
    'json_schema_2020_12_tool',
    { description: 'Tool with JSON Schema 2020-12 features', inputSchema: JSON_SCHEMA_2020_12_INPUT },
    (args: unknown) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args ?? {})}`),
  );
}

/**
 * Who is calling: the subject, client and scopes of the caller's verified access token (both SDK
 * shapes carry it: `extra.authInfo`, `ctx.http.authInfo`). With authorization off there is no caller.
 */
function registerIdentityTools(server: McpServerApi): void {
  server.registerTool(
    'whoami',
    {
      title: 'Who am I',
      description: "Returns the caller's subject, client id and scopes from its access token (authorization on)",
      inputSchema: NO_ARGS,
    },
    (_args: unknown, ctx) => {
      const auth = ctx.http.authInfo;
      if (auth === undefined)
        return {
          content: [{ type: 'text', text: 'anonymous: this node checks no access tokens' }],
          structuredContent: { authenticated: false },
        };
      const who = { authenticated: true, subject: auth.extra?.sub, issuer: auth.extra?.iss, clientId: auth.clientId, scopes: auth.scopes };
      return { content: [{ type: 'text', text: JSON.stringify(who) }], structuredContent: who };
    },
  );
}

function registerStreamingTools(server: McpServerApi): void {
  // tools-call-with-logging: three info-level log notifications ~50 ms apart (client sets level "debug")
  server.registerTool(
    'test_tool_with_logging',
    {
      title: 'Logging',
      description: 'Sends three info log notifications during execution',
      inputSchema: NO_ARGS,
    },
    async (_args, extra) => {
      await log(extra, 'info', 'Tool execution started');
      await sleep(50, extra.signal);
      await log(extra, 'info', 'Tool processing data');
      await sleep(50, extra.signal);
      await log(extra, 'info', 'Tool execution completed');
      return text('Tool with logging executed successfully');
    },
  );

  // tools-call-with-progress: progress 0, 50, 100 of 100, ~50 ms apart, for `_meta.progressToken`
  server.registerTool(
    'test_tool_with_progress',
    {
      title: 'Progress',
      description: 'Reports progress 0/100, 50/100, 100/100 when given a progress token',
      inputSchema: NO_ARGS,
    },
    async (_args, extra) => {
      await progress(extra, 0, 100, 'Started');
      await sleep(50, extra.signal);
      await progress(extra, 50, 100, 'Half way');
      await sleep(50, extra.signal);
      await progress(extra, 100, 100, 'Done');
      return text('Tool with progress executed successfully');
    },
  );

  // server-sse-polling (SEP-1699): close the POST SSE stream mid-call, answer a little later. The result
  // must reach the client on its GET + Last-Event-ID reconnection (live, or replayed from the event store).
  server.registerTool(
    'test_reconnection',
    {
      title: 'SSE reconnection',
      description: 'Closes the SSE stream mid-call (SEP-1699) and returns its result after the client reconnects with Last-Event-ID',
      inputSchema: NO_ARGS,
    },
    async (_args, extra) => {
      extra.closeSSEStream();
      await sleep(100, extra.signal);
      return text('Reconnection test completed successfully. If you received this, the client resumed the stream after it was closed.');
    },
  );
}

function registerClientRequestTools(server: McpServerApi): void {
  // tools-call-sampling: sampling/createMessage with the prompt as one user text message, maxTokens 100
  server.registerTool(
    'test_sampling',
    {
      title: 'Sampling',
      description: 'Asks the client to sample an LLM completion for the prompt',
      inputSchema: { prompt: z.string().describe('The prompt to send to the LLM') },
    },
    async ({ prompt }: { prompt: string }, extra) => {
      try {
        const result = await extra.sendRequest(
          {
            method: 'sampling/createMessage',
            params: {
              messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
              maxTokens: 100,
            },
          },
          CreateMessageResultSchema,
          { signal: extra.signal },
        );
        return text(`LLM response: ${samplingText(result)}`);
      } catch (err) {
        return errorResult(`Sampling failed (does the client support sampling?): ${errorMessage(err)}`);
      }
    },
  );

  // tools-call-elicitation: elicitation/create asking for username and email
  server.registerTool(
    'test_elicitation',
    {
      title: 'Elicitation',
      description: 'Asks the client to collect a username and email from the user',
      inputSchema: { message: z.string().describe('The message to show the user') },
    },
    async ({ message }: { message: string }, extra) => {
      try {
        const answer = await elicit(extra, message, {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        });
        return text(`User response: ${answer}`);
      } catch (err) {
        return errorResult(`Elicitation failed (does the client support elicitation?): ${errorMessage(err)}`);
      }
    },
  );

  // elicitation-sep1034-defaults: defaults for string, integer, number, enum and boolean fields
  server.registerTool(
    'test_elicitation_sep1034_defaults',
    {
      title: 'Elicitation defaults (SEP-1034)',
      description: 'Elicits a form whose fields carry default values for every primitive type',
      inputSchema: NO_ARGS,
    },
    async (_args, extra) => {
      try {
        const answer = await elicit(extra, 'Please review and update the form fields with defaults', SEP1034_REQUESTED_SCHEMA);
        return text(`Elicitation completed: ${answer}`);
      } catch (err) {
        return errorResult(`Elicitation failed: ${errorMessage(err)}`);
      }
    },
  );

  // elicitation-sep1330-enums: all five enum schema variants
  server.registerTool(
    'test_elicitation_sep1330_enums',
    {
      title: 'Elicitation enums (SEP-1330)',
      description: 'Elicits a form using every enum schema variant',
      inputSchema: NO_ARGS,
    },
    async (_args, extra) => {
      try {
        const answer = await elicit(extra, 'Please select options from the enum fields', SEP1330_REQUESTED_SCHEMA);
        return text(`Elicitation completed: ${answer}`);
      } catch (err) {
        return errorResult(`Elicitation failed: ${errorMessage(err)}`);
      }
    },
  );
}

// ---------------------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------------------

function registerResources(server: McpServerApi): void {
  // resources-list, resources-read-text
  server.registerResource(
    'static-text',
    'test://static-text',
    { title: 'Static text', description: 'A static text resource', mimeType: 'text/plain' },
    (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
    }),
  );

  // resources-list, resources-read-binary
  server.registerResource(
    'static-binary',
    'test://static-binary',
    { title: 'Static binary', description: 'A static binary resource (1x1 PNG)', mimeType: 'image/png' },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: RED_PIXEL_PNG_BASE64 }] }),
  );

  // resources-templates-read (the returned text must contain the substituted id); completion of {id}
  server.registerResource(
    'template-data',
    new ResourceTemplate('test://template/{id}/data', {
      list: undefined,
      complete: { id: (value: string) => startsWith(TEMPLATE_ID_CANDIDATES, value) },
    }),
    { title: 'Templated data', description: 'JSON data for the id in the URI', mimeType: 'application/json' },
    (uri, variables): ReadResourceResult => {
      const id = firstValue(variables.id);
      return {
        contents: [
          {
            uri: uri.href,
            mimeType: 'application/json',
            text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
          },
        ],
      };
    },
  );

  // resources-subscribe, resources-unsubscribe: the URI clients subscribe to (subscriptions live in the core)
  let revision = 0;
  const watchedContent = () => `Watched resource content (revision ${revision})`;
  server.registerResource(
    'watched-resource',
    'test://watched-resource',
    {
      title: 'Watched resource',
      description: 'A resource clients can subscribe to; test_update_watched_resource changes it',
      mimeType: 'text/plain',
    },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: watchedContent() }] }),
  );

  // Not a conformance scenario: lets a client trigger notifications/resources/updated for subscribers.
  server.registerTool(
    'test_update_watched_resource',
    {
      title: 'Update watched resource',
      description: 'Changes test://watched-resource and notifies subscribed sessions (of this worker)',
      inputSchema: NO_ARGS,
    },
    () => {
      revision += 1;
      server.notifyResourceUpdated('test://watched-resource');
      return text(watchedContent());
    },
  );
}

// ---------------------------------------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------------------------------------

function userText(value: string) {
  return { role: 'user', content: { type: 'text', text: value } };
}

function registerPrompts(server: McpServerApi): void {
  // prompts-list, prompts-get-simple
  server.registerPrompt('test_simple_prompt', { title: 'Simple prompt', description: 'A prompt without arguments' }, () => ({
    messages: [userText('This is a simple prompt for testing.')],
  }));

  // prompts-get-with-args (both values must appear in the messages); completion-complete completes arg1
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt with arguments',
      description: 'A prompt with two required arguments',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), (value) => startsWith(ARG1_CANDIDATES, value)),
        arg2: z.string().describe('Second test argument'),
      },
    },
    ({ arg1, arg2 }: { arg1: string; arg2: string }) => ({
      messages: [userText(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`)],
    }),
  );

  // prompts-get-embedded-resource
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt with embedded resource',
      description: 'A prompt that embeds the resource named by resourceUri',
      argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') },
    },
    ({ resourceUri }: { resourceUri: string }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          },
        },
        userText('Please process the embedded resource above.'),
      ],
    }),
  );

  // prompts-get-with-image
  server.registerPrompt(
    'test_prompt_with_image',
    { title: 'Prompt with image', description: 'A prompt that includes image content' },
    () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: RED_PIXEL_PNG_BASE64, mimeType: 'image/png' } },
        userText('Please analyze the image above.'),
      ],
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------------------

export default function register(server: McpServerApi): void {
  server.setServerInfo(
    { name: 'mcp-storm-everything', title: 'MCP Storm everything server', version: '0.1.0' },
    'Built-in test server: implements every tool, resource and prompt the MCP conformance suite expects.',
  );
  registerContentTools(server);
  registerIdentityTools(server);
  registerStreamingTools(server);
  registerClientRequestTools(server);
  registerResources(server);
  registerPrompts(server);
  registerModern(server);
}
