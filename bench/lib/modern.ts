/**
 * A 2026-07-28 ("modern") tools/call as the official SDK v2 client (`@modelcontextprotocol/client`
 * 2.4, pinned to 2026-07-28) sends it: no session; the `MCP-Protocol-Version`, `Mcp-Method` and
 * `Mcp-Name` headers mirroring the body; `params._meta` with the protocol version, `clientInfo` and
 * `clientCapabilities`; the body's members in the client's order (method, params, jsonrpc, id) and,
 * in params, name, arguments, _meta. The shape was read off a request the client sent, and
 * test/modern.test.ts captures one again and compares it with these builders, header for header and
 * byte for byte.
 *
 * Node built-ins only, no state.
 */
export const MODERN_VERSION = '2026-07-28';

export interface ClientInfo {
  name: string;
  version: string;
}

/**
 * Headers the client's fetch (undici) adds to every request, in the order it sends them; `host`,
 * `connection` and `content-length` are the load generator's own.
 */
export const FETCH_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'accept-language': '*',
  'sec-fetch-mode': 'cors',
  'user-agent': 'node',
  'accept-encoding': 'gzip, deflate',
});

/** The request headers of a modern tools/call of `tool`, in the order the SDK v2 client sends them. */
export function modernCallHeaders(tool: string): Record<string, string> {
  return {
    'mcp-protocol-version': MODERN_VERSION,
    'mcp-method': 'tools/call',
    'mcp-name': tool,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...FETCH_HEADERS,
  };
}

/** A modern tools/call body; a string `id` may be the load generators' `[<id>]` placeholder. */
export function modernCallBody(id: number | string, tool: string, args: Record<string, unknown>, client: ClientInfo): string {
  return JSON.stringify({
    method: 'tools/call',
    params: {
      name: tool,
      arguments: args,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
        'io.modelcontextprotocol/clientInfo': { name: client.name, version: client.version },
        'io.modelcontextprotocol/clientCapabilities': {},
      },
    },
    jsonrpc: '2.0',
    id,
  });
}
