/**
 * The tool module of the storm's modern fleet (`--era modern`), loaded by every node with `--tools`:
 * the benchmarks' `echo` tool (the clients' stateless calls) and `storm_tick`, which announces an
 * update of the resource `storm://tick/<slot>`. The node delivers it to its own listen streams and
 * publishes it to the other nodes through Redis, so each call is one change event the run can count
 * on every listen stream of the cluster.
 */
import { z } from 'zod';
import { ECHO_CONFIG, ECHO_NAME, echo } from './tools.js';
import { TICK_SLOTS, TICK_TOOL, tickUri } from './lib/storm-modern.js';

/** The members of the product's tool-module API (workers/api.ts McpServerApi) used here. */
interface ToolServer {
  registerTool(
    name: string,
    config: { description?: string; inputSchema?: Record<string, unknown> },
    handler: (args: never) => unknown,
  ): unknown;
  notifyResourceUpdated(uri: string): void;
}

export default function register(server: ToolServer): void {
  server.registerTool(ECHO_NAME, { ...ECHO_CONFIG }, echo);
  server.registerTool(
    TICK_TOOL,
    {
      description: 'Announces an update of storm://tick/<slot> to every listen stream subscribed to it, on every node.',
      inputSchema: {
        slot: z
          .number()
          .int()
          .min(0)
          .max(TICK_SLOTS - 1),
      },
    },
    ({ slot }: { slot: number }) => {
      server.notifyResourceUpdated(tickUri(slot));
      return { content: [{ type: 'text', text: `tick ${slot}` }] };
    },
  );
}
