// Retry-After for the adapters' REST clients (servicenow, catalyst-center), which wait and retry once on
// 429/503 as their products document: how long the answer asks them to wait.

/** Retry-After: delta seconds or an HTTP date; a missing or odd value waits 1 s. */
export function retryAfterMs(h: string | null): number {
  if (!h) return 1000;
  const s = Number(h);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const d = Date.parse(h);
  return Number.isFinite(d) ? Math.max(0, d - Date.now()) : 1000;
}
