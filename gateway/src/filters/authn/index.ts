// Public surface of the authn stage: the filter, protected resource metadata (RFC 9728), session
// binding, dev mode and API key helpers. The listener and session stage import from here only.

export { type ApiKeyResult, ApiKeyStore, generateApiKey, hashApiKey } from "./api-keys.ts";
export { bearerChallenge, type ChallengeParams } from "./challenge.ts";
export { claimAt, compileClaimsMapping, stringList } from "./claims.ts";
export { type DevMode, prepareDevMode } from "./dev-mode.ts";
export { AUTHN_RESULT, type AuthnFilter, type AuthnFilterOptions, type AuthnResult, createAuthnFilter } from "./filter.ts";
export { type AuthnLog, IdpUnavailableError, IssuerRuntime } from "./issuer-keys.ts";
export {
  handleProtectedResourceMetadata,
  matchPrmPath,
  PRM_WELL_KNOWN,
  type PrmResponse,
  type ProtectedResourceMetadata,
  prmPath,
  prmUrl,
  protectedResourceMetadata,
  resourceUrl,
} from "./prm.ts";
export { addressRefusal, assertFetchableUrl, createGuardedFetch, type FetchPolicy } from "./ssrf.ts";
