// Runs INSIDE a private network namespace (only loopback up): starts the Temporal Java test server,
// which binds every interface, and relays a Unix socket to it, the only way in from outside.
// Usage: node netns-temporal-inner.ts <socket path> <port> <lib dir>. Ends (and stops Java) when stdin closes.

import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { connect, createServer } from "node:net";

const [sock, portText, lib] = process.argv.slice(2);
if (!sock || !portText || !lib) {
  process.stderr.write("usage: netns-temporal-inner.ts <socket> <port> <lib dir>\n");
  process.exit(2);
}
const port = Number(portText);
const java = spawn("java", ["-Xmx256m", "-cp", `${lib}/*`, "io.temporal.testserver.TestServer", String(port), "--enable-time-skipping"], {
  stdio: ["ignore", "ignore", "inherit"],
});
let ending = false;
const end = (code: number) => {
  if (ending) return;
  ending = true;
  java.kill("SIGKILL");
  rmSync(sock, { force: true });
  process.exit(code);
};
java.on("exit", () => end(1));
// The parent holds our stdin: when it goes (even killed), so do we and Java.
process.stdin.on("end", () => end(0));
process.stdin.on("error", () => end(0));
process.stdin.resume();
process.on("SIGTERM", () => end(0));
process.on("SIGINT", () => end(0));

// Wait until Java accepts connections, then open the socket and say so.
const deadline = Date.now() + 120_000;
const probe = () => {
  const c = connect(port, "127.0.0.1");
  c.once("connect", () => {
    c.destroy();
    rmSync(sock, { force: true });
    const relay = createServer((inbound) => {
      const out = connect(port, "127.0.0.1");
      inbound.pipe(out).pipe(inbound);
      const close = () => {
        inbound.destroy();
        out.destroy();
      };
      inbound.once("error", close).once("close", close);
      out.once("error", close).once("close", close);
    });
    relay.listen(sock, () => process.stdout.write("ready\n"));
  });
  c.once("error", () => {
    c.destroy();
    if (Date.now() > deadline) end(1);
    else setTimeout(probe, 200);
  });
};
probe();
