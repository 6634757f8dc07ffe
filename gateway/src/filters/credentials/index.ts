// Public surface of the credentials stage: the filter factory, its options and start-up error.
// The relay core wires it (docs/credentials.md); secrets/ holds the sources, cache and Vault client.

export {
  type BackendTransport,
  CREDENTIALS_FINGERPRINT,
  CREDENTIALS_STRIP,
  type CredentialsFilter,
  type CredentialsFilterOptions,
  type CredentialsServer,
  CredentialsStartupError,
  createCredentialsFilter,
} from "./credentials-filter.ts";
export { type CredentialsConfigView, credentialsFromConfig } from "./from-config.ts";
export { isSafeSegment, PathTemplate, ValueTemplate } from "./templates.ts";
