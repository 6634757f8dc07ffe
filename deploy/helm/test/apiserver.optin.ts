// Opt-in (npm run test:kube): the Helm chart, rendered with its default and its full values, is accepted by a
// real kube-apiserver 1.37.2 (on a real etcd) through `kubectl apply --dry-run=server`, and broken objects are not.

import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { freePort } from "../../../gateway/test/credentials/bao.ts";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const chart = join(repo, "deploy/helm/mcp-gateway");
const KUBE_VERSION = "1.37.2";
const NAMESPACE = "edge";
const timings: Record<string, number> = {};

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; [k: string]: unknown }; [k: string]: unknown };

interface Proc {
  child: ChildProcess;
  out: string;
}

function start(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const p: Proc = { child, out: "" };
  // Keep only the tail: the API server logs a lot at start-up, and memory stays bounded.
  const keep = (d: Buffer) => (p.out = (p.out + d).slice(-20_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return p;
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p?.child.pid || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once("exit", r));
  process.kill(-p.child.pid, "SIGTERM");
  await exited;
}

async function waitFor(what: string, p: Proc, ready: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`${what} exited ${p.child.exitCode}: ${p.out.slice(-4000)}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${ms} ms: ${p.out.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

describe(`the Helm chart on a real kube-apiserver ${KUBE_VERSION}`, () => {
  let dir = "";
  let bin = "";
  let etcd: Proc | undefined;
  let apiserver: Proc | undefined;
  let kubeconfig = "";
  const t0 = Date.now();

  /** kubectl against the test server; resolves with stdout/stderr and the exit code, never throws on exit != 0. */
  async function kubectl(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile(
        join(bin, "kubectl"),
        ["--kubeconfig", kubeconfig, ...args],
        { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      child.stdin!.end(stdin ?? "");
    });
  }

  function render(values?: string): K8sObject[] {
    const args = ["template", "mcp", chart, "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION];
    if (values) args.push("-f", values);
    const text = execFileSync(join(bin, "helm"), args, {
      encoding: "utf8",
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(dir, "helm/cache"),
        HELM_CONFIG_HOME: join(dir, "helm/config"),
        HELM_DATA_HOME: join(dir, "helm/data"),
      },
    });
    return parseAllDocuments(text)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null);
  }

  const toYaml = (objects: K8sObject[]) => objects.map((o) => stringify(o)).join("---\n");
  const names = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

  beforeAll(async () => {
    // Builds kube-apiserver and kubectl once (~20 min cold), installs etcd from apt if missing.
    bin = execFileSync("bash", [join(repo, ".ci/install-kube-apiserver.sh")], { encoding: "utf8" }).trim();
    execFileSync("bash", [join(repo, ".ci/install-helm.sh")], { stdio: ["ignore", "ignore", "inherit"] });
    timings.installMs = Date.now() - t0;
    dir = mkdtempSync(join(tmpdir(), "kube-optin-"));

    // A CA, a serving certificate for 127.0.0.1 signed by it, and the service-account signing key.
    openssl(
      dir,
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "1",
      "-subj",
      "/CN=kube-optin-ca",
    );
    openssl(dir, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver");
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl(
      dir,
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "1",
      "-extfile",
      "san.ext",
    );
    openssl(dir, "genrsa", "-out", "sa.key", "2048");
    openssl(dir, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub");
    const token = `kube-optin-${process.pid}-${Date.now()}`;
    writeFileSync(join(dir, "tokens.csv"), `${token},admin,admin-uid,"system:masters"\n`);

    const [client, peer, secure] = [await freePort(), await freePort(), await freePort()];
    const started = Date.now();
    etcd = start("etcd", [
      "--name=optin",
      "--logger=zap",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${client}`,
      `--advertise-client-urls=http://127.0.0.1:${client}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=optin=http://127.0.0.1:${peer}`,
    ]);
    await waitFor("etcd", etcd, async () => (await fetch(`http://127.0.0.1:${client}/health`)).ok, 60_000);
    timings.etcdReadyMs = Date.now() - started;

    apiserver = start(join(bin, "kube-apiserver"), [
      `--etcd-servers=http://127.0.0.1:${client}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${secure}`,
      // One API server, no Service endpoints to keep in sync.
      "--endpoint-reconciler-type=none",
      `--cert-dir=${join(dir, "certs")}`,
      `--tls-cert-file=${join(dir, "server.crt")}`,
      `--tls-private-key-file=${join(dir, "server.key")}`,
      "--service-account-issuer=https://kubernetes.default.svc",
      `--service-account-key-file=${join(dir, "sa.pub")}`,
      `--service-account-signing-key-file=${join(dir, "sa.key")}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      "--authorization-mode=AlwaysAllow",
      `--token-auth-file=${join(dir, "tokens.csv")}`,
    ]);
    kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "optin", cluster: { server: `https://127.0.0.1:${secure}`, "certificate-authority": join(dir, "ca.crt") } }],
        users: [{ name: "admin", user: { token } }],
        contexts: [{ name: "optin", context: { cluster: "optin", user: "admin" } }],
        "current-context": "optin",
      }),
    );
    const apiStarted = Date.now();
    await waitFor("kube-apiserver", apiserver, async () => (await kubectl(["get", "--raw", "/readyz"])).stdout.trim() === "ok", 180_000);
    timings.apiserverReadyMs = Date.now() - apiStarted;

    // Real (not dry-run): the namespace the chart is rendered for, with Pod Security Admission at "restricted".
    const ns = await kubectl(["create", "namespace", NAMESPACE]);
    expect(ns.code, ns.stderr).toBe(0);
    const label = await kubectl([
      "label",
      "namespace",
      NAMESPACE,
      "pod-security.kubernetes.io/enforce=restricted",
      "pod-security.kubernetes.io/warn=restricted",
    ]);
    expect(label.code, label.stderr).toBe(0);
  }, 30 * 60_000);

  afterAll(async () => {
    await stop(apiserver);
    await stop(etcd);
    if (dir) rmSync(dir, { recursive: true, force: true });
    timings.totalMs = Date.now() - t0;
    process.stderr.write(`kube-apiserver opt-in timings: ${JSON.stringify(timings)}\n`);
  }, 120_000);

  it("talks to the version it was built for", async () => {
    const v = await kubectl(["version", "-o", "json"]);
    expect(v.code, v.stderr).toBe(0);
    const parsed = JSON.parse(v.stdout) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
    expect(parsed.serverVersion.gitVersion).toBe(`v${KUBE_VERSION}`);
    expect(parsed.clientVersion.gitVersion).toBe(`v${KUBE_VERSION}`);
  });

  /**
   * Runs `fn` while the chart's ServiceAccount exists for real (admission refuses a Pod whose service account is
   * missing), then deletes it: the dry-run tests check that nothing named for the chart is stored.
   */
  async function withServiceAccount(spec: Record<string, unknown>, fn: () => Promise<void>): Promise<void> {
    const name = String(spec.serviceAccountName ?? "default");
    const created = await kubectl(["create", "serviceaccount", name, "-n", NAMESPACE]);
    expect(created.code, created.stderr).toBe(0);
    try {
      await fn();
    } finally {
      const deleted = await kubectl(["delete", "serviceaccount", name, "-n", NAMESPACE, "--wait=true"]);
      expect(deleted.code, deleted.stderr).toBe(0);
    }
  }

  type Deployment = K8sObject & {
    spec: {
      selector: { matchLabels: Record<string, string> };
      template: { metadata: Record<string, unknown>; spec: { containers: Array<Record<string, unknown>>; [k: string]: unknown } };
    };
  };
  const deploymentOf = (objects: K8sObject[]) => objects.find((o) => o.kind === "Deployment") as Deployment;

  for (const [label, values] of [
    ["default values", undefined],
    ["ci/full-values.yaml", join(chart, "ci/full-values.yaml")],
  ] as const) {
    it(`accepts every object rendered with ${label}, defaults them, and stores none`, async () => {
      const objects = render(values);
      expect(names(objects)).toEqual(expect.arrayContaining(["Deployment/mcp-mcp-gateway", "Service/mcp-mcp-gateway"]));
      const r = await kubectl(["apply", "--dry-run=server", "-n", NAMESPACE, "-o", "json", "-f", "-"], toYaml(objects));
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { kind: string; items?: K8sObject[] } & K8sObject;
      const returned = out.kind === "List" ? out.items! : [out];
      expect(names(returned)).toEqual(names(objects));
      // What came back went through the server's defaulting (not an echo of the input).
      const deployment = returned.find((o) => o.kind === "Deployment") as K8sObject & {
        spec: { progressDeadlineSeconds?: number };
      };
      expect(deployment.spec.progressDeadlineSeconds).toBe(600);
      // A dry run stores nothing.
      const left = await kubectl(["get", "deployments,services,configmaps,secrets,serviceaccounts", "-n", NAMESPACE, "-o", "name"]);
      expect(left.code, left.stderr).toBe(0);
      expect(left.stdout.split("\n").filter((l) => l.includes("mcp-gateway"))).toEqual([]);
    });

    it(`raises no Pod Security "restricted" warning for the Deployment rendered with ${label}`, async () => {
      // The namespace warns about a Deployment whose pods the restricted profile would refuse; the chart's must not.
      const r = await kubectl(["apply", "--dry-run=server", "-n", NAMESPACE, "-f", "-"], toYaml([deploymentOf(render(values))]));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/Warning/i);
    });

    it(`admits the pod of the Deployment rendered with ${label} under the enforced restricted profile`, async () => {
      const { metadata, spec } = deploymentOf(render(values)).spec.template;
      const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "chart-pod", labels: metadata.labels }, spec };
      await withServiceAccount(spec, async () => {
        const r = await kubectl(["create", "--dry-run=server", "-n", NAMESPACE, "-f", "-"], stringify(pod));
        expect(r.code, r.stderr).toBe(0);
      });
    });
  }

  it("refuses broken objects (so the checks above can fail)", async () => {
    const deployment = deploymentOf(render());
    // An unknown field: refused by the server's strict field validation.
    const typo = structuredClone(deployment) as K8sObject & { spec: Record<string, unknown> };
    typo.spec.replicass = 2;
    const r1 = await kubectl(["apply", "--dry-run=server", "-n", NAMESPACE, "-f", "-"], toYaml([typo]));
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toMatch(/replicass/);

    // A selector that does not match the pod template's labels: schema-valid (kubeconform passes it), refused by
    // the API server's own validation.
    const mismatch = structuredClone(deployment);
    mismatch.spec.selector.matchLabels = { "app.kubernetes.io/name": "something-else" };
    const r2 = await kubectl(["apply", "--dry-run=server", "-n", NAMESPACE, "-f", "-"], toYaml([mismatch]));
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/selector.*does not match template `?labels/);

    // A container that adds a capability (the chart drops them all): the restricted profile refuses the pod.
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "capability-pod" },
      spec: {
        ...deployment.spec.template.spec,
        containers: deployment.spec.template.spec.containers.map((c) => ({
          ...c,
          securityContext: {
            ...(c.securityContext as Record<string, unknown>),
            capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
          },
        })),
      },
    };
    await withServiceAccount(deployment.spec.template.spec, async () => {
      const r3 = await kubectl(["create", "--dry-run=server", "-n", NAMESPACE, "-f", "-"], stringify(pod));
      expect(r3.code).not.toBe(0);
      expect(r3.stderr).toMatch(/violates PodSecurity "restricted:latest": unrestricted capabilities .*NET_ADMIN/);
    });
  });
});
