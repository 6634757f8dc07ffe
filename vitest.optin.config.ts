import { defineConfig } from "vitest/config";

// Opt-in suites with slow real components (Keycloak): `npm run test:keycloak`. Not part of `npm test`.
export default defineConfig({
  test: {
    include: ["examples/**/*.optin.ts"],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: "forks",
    maxWorkers: 1,
  },
});
