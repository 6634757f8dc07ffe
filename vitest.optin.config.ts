import { defineConfig } from "vitest/config";

// Opt-in suites with slow real components, not part of `npm test`: Keycloak (`npm run test:keycloak`) and a
// kube-apiserver with etcd for the Helm chart (`npm run test:kube`).
export default defineConfig({
  test: {
    include: ["examples/**/*.optin.ts", "deploy/**/*.optin.ts"],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: "forks",
    maxWorkers: 1,
  },
});
