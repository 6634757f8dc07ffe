// The opt-in Keycloak suite of the platform realm (npm run test:keycloak:platform): a real Keycloak
// takes 1-5 minutes to start and ~500 MiB, so it stays out of the default `npm test`.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["examples/platform/keycloak/**/*.keycloak.ts"],
    testTimeout: 120_000,
    hookTimeout: 840_000,
    pool: "forks",
    maxWorkers: 1,
  },
});
