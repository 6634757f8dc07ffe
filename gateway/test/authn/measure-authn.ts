// Per-request cost of the authn stage, in-process (no HTTP): JWT verification with a warm JWKS
// (verified-token cache off and on), API key lookup. Run: node gateway/test/authn/measure-authn.ts

import { importJWK, jwtVerify } from "jose";
import { createAuthnFilter, generateApiKey, hashApiKey } from "../../src/filters/authn/index.ts";
import { startIdp } from "../fixtures/idp.ts";
import { authConfig, BASE, bearer, exchange } from "./helpers.ts";

const N = Number(process.env.N ?? 20_000);
const idp = await startIdp({ defaultAudience: `${BASE}/mcp/echo` });
const key = generateApiKey().reveal();

async function measure(name: string, cacheSize: number, tokens: () => string): Promise<void> {
  const f = createAuthnFilter({
    publicBaseUrl: BASE,
    auth: authConfig({
      allowInsecureLoopback: true,
      tokenCacheSize: cacheSize,
      issuers: [{ issuer: idp.issuer }],
      apiKeys: [{ id: "k", sha256: hashApiKey(key), subject: "svc" }],
    }),
  });
  await f.warmUp();
  const samples = new Float64Array(N);
  for (let i = 0; i < N + 2000; i++) {
    const ex = exchange("echo", bearer(tokens()));
    const t0 = performance.now();
    const v = f.onRequest!(ex);
    const r = v instanceof Promise ? await v : v;
    const dt = performance.now() - t0;
    if (r) throw new Error(`${name}: refused ${r.error.code} ${r.error.detail}`);
    if (i >= 2000) samples[i - 2000] = dt;
  }
  samples.sort();
  const us = (q: number) => (samples[Math.floor(q * (N - 1))]! * 1000).toFixed(1);
  console.log(`${name.padEnd(44)} p50 ${us(0.5).padStart(6)} µs   p90 ${us(0.9).padStart(6)} µs   p99 ${us(0.99).padStart(7)} µs`);
  await f.close();
}

const rs = await idp.mintToken();
{
  // Baseline: jose alone (same key, same checks), to separate the filter's own overhead.
  const jwks = (await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: { kid: string }[] };
  const k = await importJWK(jwks.keys[0] as never, "RS256");
  const samples = new Float64Array(N);
  for (let i = 0; i < N + 2000; i++) {
    const t0 = performance.now();
    await jwtVerify(rs, k, { issuer: idp.issuer, audience: [`${BASE}/mcp/echo`], algorithms: ["RS256"], requiredClaims: ["exp"] });
    if (i >= 2000) samples[i - 2000] = performance.now() - t0;
  }
  samples.sort();
  console.log(`${"baseline: jose jwtVerify RS256 alone".padEnd(44)} p50 ${(samples[N >> 1]! * 1000).toFixed(1).padStart(6)} µs`);
}
const es = await idp.mintToken({ alg: "ES256" });
await measure("JWT RS256, warm JWKS, no token cache", 0, () => rs);
await measure("JWT ES256, warm JWKS, no token cache", 0, () => es);
await measure("JWT RS256, verified-token cache hit", 10_000, () => rs);
await measure("API key (sha256 + Map + timingSafeEqual)", 0, () => key);
await idp.close();
