// Types for the two test-only packages that ship none: the parts fixtures-server-main.ts uses.

declare module "@octokit/fixtures-server" {
  import type { RequestListener } from "node:http";
  export default function fixturesServer(o: { fixturesUrl: string; logLevel?: string; ttl?: number }): RequestListener;
}

declare module "express" {
  import type { RequestListener } from "node:http";

  interface App extends RequestListener {
    use(handler: RequestListener): void;
  }
  export default function express(): App;
}
