// Protocol eras and the rules that differ between them (MCP-NOTES.md, "Versions").

export const PROTOCOL_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

/** Version assumed when a Streamable HTTP request carries no MCP-Protocol-Version header. */
export const DEFAULT_HTTP_VERSION: ProtocolVersion = "2025-03-26";
export const MODERN: ProtocolVersion = "2026-07-28";
/** `_meta` key that carries the protocol version on every 2026-07-28 request. */
export const META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion";

const known = new Set<string>(PROTOCOL_VERSIONS);
export function isKnownVersion(v: string): v is ProtocolVersion {
  return known.has(v);
}
/** Batches (JSON arrays) exist only in 2025-03-26. */
export function batchesAllowed(v: string): boolean {
  return v === "2025-03-26";
}
/** 2026-07-28 and later: stateless, no sessions, no initialize. */
export function isSessionless(v: string): boolean {
  return v >= MODERN;
}
