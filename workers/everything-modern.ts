/**
 * The built-in demo's 2026-07-28 part: the tools and the prompt the conformance alpha's 2026-07-28
 * server scenarios call (`test/conformance-expectations.md`, second table, names the scenario each
 * serves). Handlers are written once for both eras: they read `extra.mcpReq` and return
 * `inputRequired(...)` when an answer is missing.
 */
import { acceptedContent, inputRequired } from './api.js';
import type { HandlerExtra, McpServerApi, ToolResult } from './api.js';

const NO_ARGS = { type: 'object', properties: {} } as const;

function text(t: string): ToolResult {
  return { content: [{ type: 'text', text: t }] };
}

function responses(extra: HandlerExtra): Readonly<Record<string, unknown>> | undefined {
  return extra.mcpReq?.inputResponses;
}

function answered(extra: HandlerExtra, key: string): boolean {
  const r = responses(extra)?.[key];
  return typeof r === 'object' && r !== null;
}

const askName = (message = 'What is your name?'): ReturnType<typeof inputRequired.elicit> =>
  inputRequired.elicit({
    message,
    requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
  });

const askConfirm = (): ReturnType<typeof inputRequired.elicit> =>
  inputRequired.elicit({
    message: 'Please confirm',
    requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
  });

const askCapital = (): ReturnType<typeof inputRequired.createMessage> =>
  inputRequired.createMessage({
    messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
    maxTokens: 100,
  });

export function registerModern(server: McpServerApi): void {
  // input-required-result-basic-elicitation, -missing-input-response, -result-type,
  // -ignore-extra-params, -validate-input: one elicitation, asked again until `user_name` is accepted.
  server.registerTool(
    'test_input_required_result_elicitation',
    { description: 'Asks for the user name by elicitation (input_required), then greets', inputSchema: NO_ARGS },
    (_args, extra) => {
      const c = acceptedContent<{ name?: unknown }>(responses(extra), 'user_name');
      if (typeof c?.name !== 'string') return inputRequired({ inputRequests: { user_name: askName() } });
      return text(`Hello, ${c.name}!`);
    },
  );

  // input-required-result-basic-sampling
  server.registerTool(
    'test_input_required_result_sampling',
    { description: 'Asks the client to sample an answer (input_required), then returns it', inputSchema: NO_ARGS },
    (_args, extra) => {
      if (!answered(extra, 'capital_question')) return inputRequired({ inputRequests: { capital_question: askCapital() } });
      return text(`Sampled: ${JSON.stringify(responses(extra)?.capital_question)}`);
    },
  );

  // input-required-result-basic-list-roots
  server.registerTool(
    'test_input_required_result_list_roots',
    { description: "Asks for the client's roots (input_required), then lists them", inputSchema: NO_ARGS },
    (_args, extra) => {
      if (!answered(extra, 'client_roots')) return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
      return text(`Roots: ${JSON.stringify(responses(extra)?.client_roots)}`);
    },
  );

  // input-required-result-request-state
  server.registerTool(
    'test_input_required_result_request_state',
    { description: 'Asks for confirmation carrying requestState; completes when both come back', inputSchema: NO_ARGS },
    (_args, extra) => {
      const state = extra.mcpReq?.requestState<{ step?: string }>();
      if (state?.step !== 'confirm' || !acceptedContent(responses(extra), 'confirm'))
        return inputRequired({ inputRequests: { confirm: askConfirm() }, requestState: { step: 'confirm' } });
      return text('Confirmed with the request state echoed back');
    },
  );

  // input-required-result-tampered-state: the runtime refuses the altered state before this runs.
  server.registerTool(
    'test_input_required_result_tampered_state',
    { description: 'Like the request-state tool; an altered requestState is refused with -32602', inputSchema: NO_ARGS },
    (_args, extra) => {
      if (extra.mcpReq?.requestState<{ step?: string }>()?.step !== 'confirm')
        return inputRequired({ inputRequests: { confirm: askConfirm() }, requestState: { step: 'confirm' } });
      return text('State verified');
    },
  );

  // input-required-result-multiple-input-requests
  server.registerTool(
    'test_input_required_result_multiple_inputs',
    { description: 'Asks for an elicitation, a sampling and the roots in one round', inputSchema: NO_ARGS },
    (_args, extra) => {
      const keys = ['user_name', 'greeting', 'client_roots'];
      if (extra.mcpReq?.requestState<{ round?: number }>()?.round === 1 && keys.every((k) => answered(extra, k)))
        return text('All three inputs received');
      return inputRequired({
        inputRequests: {
          user_name: askName(),
          greeting: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
            maxTokens: 50,
          }),
          client_roots: inputRequired.listRoots(),
        },
        requestState: { round: 1 },
      });
    },
  );

  // input-required-result-multi-round: the state carries what the earlier rounds proved.
  server.registerTool(
    'test_input_required_result_multi_round',
    { description: 'Two elicitation rounds in sequence, then the result', inputSchema: NO_ARGS },
    (_args, extra) => {
      const state = extra.mcpReq?.requestState<{ round?: number; name?: string }>();
      if (state?.round === 2) {
        const color = acceptedContent<{ color?: unknown }>(responses(extra), 'step2')?.color;
        if (typeof color === 'string') return text(`${state.name ?? 'You'} likes ${color}`);
      }
      if (state?.round === 1) {
        const name = acceptedContent<{ name?: unknown }>(responses(extra), 'step1')?.name;
        if (typeof name === 'string')
          return inputRequired({
            inputRequests: {
              step2: inputRequired.elicit({
                message: 'Step 2: What is your favorite color?',
                requestedSchema: { type: 'object', properties: { color: { type: 'string' } }, required: ['color'] },
              }),
            },
            requestState: { round: 2, name },
          });
      }
      return inputRequired({ inputRequests: { step1: askName('Step 1: What is your name?') }, requestState: { round: 1 } });
    },
  );

  // input-required-result-capability-check: asks only for what the client declared.
  server.registerTool(
    'test_input_required_result_capabilities',
    { description: "Asks only through the client's declared capabilities", inputSchema: NO_ARGS },
    (_args, extra) => {
      const caps = extra.mcpReq?.clientCapabilities ?? {};
      const asks: Record<string, ReturnType<typeof inputRequired.listRoots>> = {};
      if (caps.elicitation && !answered(extra, 'user_name')) asks.user_name = askName();
      if (caps.sampling && !answered(extra, 'capital_question')) asks.capital_question = askCapital();
      if (caps.roots && !answered(extra, 'client_roots')) asks.client_roots = inputRequired.listRoots();
      if (Object.keys(asks).length === 0) return text('Nothing left to ask');
      return inputRequired({ inputRequests: asks });
    },
  );

  // server-stateless: needs sampling; a client that did not declare it gets -32021 from the runtime.
  server.registerTool(
    'test_missing_capability',
    { description: 'Needs the sampling capability (input_required with a sampling request)', inputSchema: NO_ARGS },
    (_args, extra) => {
      if (!answered(extra, 'capital_question')) return inputRequired({ inputRequests: { capital_question: askCapital() } });
      return text('Sampling answered');
    },
  );

  // server-stateless: the response stream carries the result only, never a server request.
  server.registerTool(
    'test_streaming_elicitation',
    { description: 'Asks by elicitation through input_required, never by a request on the stream', inputSchema: NO_ARGS },
    (_args, extra) => {
      if (!answered(extra, 'user_name')) return inputRequired({ inputRequests: { user_name: askName() } });
      return text('Elicitation answered');
    },
  );

  // server-stateless: log messages reach the client only when its request set a log level.
  server.registerTool(
    'test_logging_tool',
    { description: 'Sends log messages (dropped unless the request set _meta logLevel)', inputSchema: NO_ARGS },
    async (_args, extra) => {
      await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'everything', data: 'log line' } });
      return text('Logged');
    },
  );

  // http-custom-header-server-validation: a string parameter mirrored into Mcp-Param-Region.
  server.registerTool(
    'test_header_params',
    {
      description: 'Echoes its region, which clients mirror into the Mcp-Param-Region header',
      inputSchema: {
        type: 'object',
        properties: {
          region: { type: 'string', description: 'Region', 'x-mcp-header': 'Region' },
          priority: { type: 'integer', description: 'Priority', 'x-mcp-header': 'Priority' },
        },
        required: ['region'],
      },
    },
    (args: { region?: unknown }) => text(`region ${String(args?.region)}`),
  );

  // server-stateless: list changes announced to the node's subscriptions/listen streams.
  server.registerTool(
    'test_trigger_tool_change',
    { description: 'Announces a tools list change (notifications/tools/list_changed)', inputSchema: NO_ARGS },
    () => {
      server.sendToolListChanged();
      return text('tools list change announced');
    },
  );
  server.registerTool(
    'test_trigger_prompt_change',
    { description: 'Announces a prompts list change (notifications/prompts/list_changed)', inputSchema: NO_ARGS },
    () => {
      server.sendPromptListChanged();
      return text('prompts list change announced');
    },
  );

  // input-required-result-non-tool-request
  server.registerPrompt(
    'test_input_required_result_prompt',
    { description: 'A prompt that asks for its context by elicitation first' },
    (_args, extra) => {
      const c = acceptedContent<{ context?: unknown }>(responses(extra), 'user_context');
      if (typeof c?.context !== 'string')
        return inputRequired({
          inputRequests: {
            user_context: inputRequired.elicit({
              message: 'What context should the prompt use?',
              requestedSchema: { type: 'object', properties: { context: { type: 'string' } }, required: ['context'] },
            }),
          },
        });
      return { messages: [{ role: 'user', content: { type: 'text', text: `Context: ${c.context}` } }] };
    },
  );
}
