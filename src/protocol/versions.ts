/**
 * Protocol revisions this node speaks. Kept as a small table so the stateless 2026-07-28 revision can
 * be added beside the session-based ones without touching the transport.
 */
export const LATEST_VERSION = '2025-11-25';
/** "If the server does not receive an MCP-Protocol-Version header ... SHOULD assume 2025-03-26." */
export const DEFAULT_HEADER_VERSION = '2025-03-26';

/** Index order matters: the front stores a session's revision as this index. */
export const SUPPORTED_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'] as const;
export type ProtocolVersion = (typeof SUPPORTED_VERSIONS)[number];

const INDEX = new Map<string, number>(SUPPORTED_VERSIONS.map((v, i) => [v, i]));

export function versionIndex(v: string): number {
  return INDEX.get(v) ?? -1;
}

/** Negotiation: echo a supported requested revision, otherwise offer the latest. */
export function negotiate(requested: unknown): ProtocolVersion {
  return typeof requested === 'string' && INDEX.has(requested) ? (requested as ProtocolVersion) : LATEST_VERSION;
}

/** JSON-RPC batches were removed in 2025-06-18. */
export function allowsBatch(v: string): boolean {
  return v < '2025-06-18';
}

/** SEP-1699 priming events (an id and empty data) only for clients that understand them. */
export function wantsPriming(v: string): boolean {
  return v >= '2025-11-25';
}
