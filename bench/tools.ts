/**
 * The benchmark's tool module: one `echo` tool, loaded by our server with `--tools` (as any user's
 * tool module is: through the public tool-module API, a default-exported `register(server)`) and
 * registered the same way on the SDK reference (bench/sdk-reference.ts), so both sides run identical
 * tool code.
 */
import { z } from 'zod';

/** The one member of the product's tool-module API (workers/api.ts McpServerApi) used here. */
interface ToolServer {
  registerTool(
    name: string,
    config: { description?: string; inputSchema?: Record<string, unknown> },
    handler: (args: { text: string }) => unknown,
  ): unknown;
}

/** Shared by both contenders: the SDK reference registers the same config and handler. */
export const ECHO_NAME = 'echo';
export const ECHO_CONFIG = Object.freeze({
  description: 'Returns its text argument unchanged.',
  inputSchema: { text: z.string() },
});

export function echo({ text }: { text: string }): { content: Array<{ type: 'text'; text: string }> } {
  return { content: [{ type: 'text', text }] };
}

export default function register(server: ToolServer): void {
  server.registerTool(ECHO_NAME, { ...ECHO_CONFIG }, echo);
}
