import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "gateway/test/**/*.test.ts",
      "otel/test/**/*.test.ts",
      "policies/test/**/*.test.ts",
      "examples/**/*.test.ts",
      "adapters/**/*.test.ts",
      "bench/**/*.test.ts",
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // 2-core CI: two workers keep integration tests (real child processes) from starving each other.
    maxWorkers: 2,
  },
});
