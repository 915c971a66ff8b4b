/**
 * The well-behaved client of the cluster tests: the shared MCP client (bench/lib/mcp-client.ts, one
 * client module for the benchmarks and the tests) with the tests' defaults: it calls
 * `test_simple_text` unless told otherwise, and keeps the sticky cookie or not as asked.
 */
import { McpClient } from '../../bench/lib/mcp-client.js';

export type { CallOutcome } from '../../bench/lib/mcp-client.js';

export class WellBehavedClient extends McpClient {
  constructor(url: string, keepCookies: boolean) {
    super(url, { keepCookies, clientName: 'cluster-test' });
  }

  override call(name = 'test_simple_text', args: Record<string, unknown> = {}, maxAttempts = 40): ReturnType<McpClient['call']> {
    return super.call(name, args, maxAttempts);
  }
}
