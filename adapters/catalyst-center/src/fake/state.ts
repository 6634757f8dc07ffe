// The Catalyst Center fake's state: sites, devices, health, issues, projects, templates, deployments,
// tasks and command-runner files. Deployments and tasks move from in progress to done by elapsed time.

import { randomUUID } from "node:crypto";

export interface FakeSite {
  id: string;
  name: string;
  parentId: string;
  /** "Global/France/Paris" */
  siteNameHierarchy: string;
  type: "area" | "building" | "floor";
}

export interface FakeDevice {
  id: string;
  hostname: string;
  managementIpAddress: string;
  platformId: string;
  family: string;
  series: string;
  role: "CORE" | "DISTRIBUTION" | "ACCESS" | "BORDER ROUTER";
  softwareType: string;
  softwareVersion: string;
  serialNumber: string;
  macAddress: string;
  reachabilityStatus: "Reachable" | "Unreachable";
  siteId: string;
  /** 1..10 as Assurance scores. */
  overallHealth: number;
  cpuUtilization: number;
  memoryUtilization: number;
  /** Configuration lines pushed by template deployments, shown by `show running-config`. */
  runningConfig: string[];
}

export interface TemplateParam {
  parameterName: string;
  dataType: "STRING" | "INTEGER" | "IPADDRESS" | "MACADDRESS" | "SECTIONDIVIDER";
  required: boolean;
  defaultValue?: string;
  description?: string;
}

export interface FakeTemplate {
  id: string;
  name: string;
  projectId: string;
  description: string;
  language: "VELOCITY" | "JINJA";
  softwareType: string;
  productFamily: string;
  templateContent: string;
  templateParams: TemplateParam[];
  /** Committed versions (id, version number, time). */
  versions: Array<{ id: string; version: string; versionTime: number; author: string; versionComment: string }>;
  createTime: number;
  lastUpdateTime: number;
}

export interface FakeProject {
  id: string;
  name: string;
  description: string;
  createTime: number;
  lastUpdateTime: number;
}

export interface DeviceDeployment {
  deviceId: string;
  identifier: string;
  ipAddress: string;
  name: string;
  targetType: string;
  /** Why this device fails, decided when the deployment is created. */
  failure: string | undefined;
  config: string;
}

export interface FakeDeployment {
  id: string;
  taskId: string;
  templateId: string;
  startTime: number;
  durationMs: number;
  devices: DeviceDeployment[];
  /** Applied to the devices' running config once done (successful devices only). */
  applied: boolean;
}

export interface FakeTask {
  id: string;
  serviceType: string;
  startTime: number;
  username: string;
  /** Evaluated on read: progress text, error and end time follow elapsed time. */
  view(now: number): { progress: string; isError: boolean; endTime?: number; failureReason?: string; data?: string };
}

export interface FakeIssue {
  issueId: string;
  name: string;
  siteId: string;
  deviceId: string;
  deviceRole: string;
  priority: "P1" | "P2" | "P3" | "P4";
  status: "active" | "resolved" | "ignored";
  category: string;
  aiDriven: "Yes" | "No";
  clientMac: string;
  issue_occurence_count: number;
  last_occurence_time: number;
}

export class CatalystState {
  readonly sites = new Map<string, FakeSite>();
  readonly devices = new Map<string, FakeDevice>();
  readonly projects = new Map<string, FakeProject>();
  readonly templates = new Map<string, FakeTemplate>();
  readonly deployments = new Map<string, FakeDeployment>();
  readonly tasks = new Map<string, FakeTask>();
  /** command-runner output files: id → JSON array */
  readonly files = new Map<string, unknown>();
  readonly issues: FakeIssue[] = [];

  addSite(name: string, parent: FakeSite | undefined, type: FakeSite["type"]): FakeSite {
    const s: FakeSite = {
      id: randomUUID(),
      name,
      parentId: parent?.id ?? "",
      siteNameHierarchy: parent ? `${parent.siteNameHierarchy}/${name}` : name,
      type,
    };
    this.sites.set(s.id, s);
    return s;
  }

  siteByName(hierarchy: string): FakeSite | undefined {
    for (const s of this.sites.values()) if (s.siteNameHierarchy === hierarchy) return s;
    return undefined;
  }

  /** Ids from the root to the site ("a/b/c"), as siteHierarchy. */
  siteIdHierarchy(site: FakeSite): string {
    const ids: string[] = [];
    let s: FakeSite | undefined = site;
    for (let i = 0; s && i < 20; i++) {
      ids.unshift(s.id);
      s = this.sites.get(s.parentId);
    }
    return ids.join("/");
  }

  /** Whether `site` is `ancestor` or lies under it. */
  within(site: FakeSite, ancestor: FakeSite): boolean {
    return site.siteNameHierarchy === ancestor.siteNameHierarchy || site.siteNameHierarchy.startsWith(`${ancestor.siteNameHierarchy}/`);
  }

  addDevice(d: Omit<FakeDevice, "id" | "runningConfig"> & { id?: string }): FakeDevice {
    const dev: FakeDevice = { ...d, id: d.id ?? randomUUID(), runningConfig: [] };
    this.devices.set(dev.id, dev);
    return dev;
  }

  addProject(name: string, description = ""): FakeProject {
    const now = Date.now();
    const p: FakeProject = { id: randomUUID(), name, description, createTime: now, lastUpdateTime: now };
    this.projects.set(p.id, p);
    return p;
  }

  addTemplate(t: Omit<FakeTemplate, "id" | "versions" | "createTime" | "lastUpdateTime">): FakeTemplate {
    const now = Date.now();
    const tpl: FakeTemplate = {
      ...t,
      id: randomUUID(),
      versions: [{ id: randomUUID(), version: "1", versionTime: now, author: "admin", versionComment: "initial version" }],
      createTime: now,
      lastUpdateTime: now,
    };
    this.templates.set(tpl.id, tpl);
    return tpl;
  }
}

/** Render a template's content with params: Velocity `$name` / `${name}`, Jinja `{{ name }}`. */
export function renderTemplate(t: FakeTemplate, params: Record<string, unknown>): { text: string; missing: string[] } {
  const missing: string[] = [];
  const values: Record<string, string> = {};
  for (const p of t.templateParams) {
    const v = params[p.parameterName] ?? p.defaultValue;
    if (v === undefined || v === "") {
      if (p.required) missing.push(p.parameterName);
      continue;
    }
    values[p.parameterName] = String(v);
  }
  for (const [k, v] of Object.entries(params)) values[k] ??= String(v);
  const text =
    t.language === "JINJA"
      ? t.templateContent.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (m, n: string) => values[n] ?? m)
      : t.templateContent.replace(
          /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
          (m, a?: string, b?: string) => values[(a ?? b)!] ?? m,
        );
  return { text, missing };
}

/** The default inventory: a small campus in Paris and New York, a project with two templates, some issues. */
export function seedState(s: CatalystState): void {
  const global = s.addSite("Global", undefined, "area");
  const france = s.addSite("France", global, "area");
  const paris = s.addSite("Paris", france, "area");
  const parisB1 = s.addSite("Building 1", paris, "building");
  const usa = s.addSite("USA", global, "area");
  const ny = s.addSite("New York", usa, "area");
  const nyB1 = s.addSite("HQ", ny, "building");
  const dev = (
    hostname: string,
    ip: string,
    role: FakeDevice["role"],
    family: string,
    platformId: string,
    site: FakeSite,
    n: number,
    extra: Partial<FakeDevice> = {},
  ) =>
    s.addDevice({
      hostname,
      managementIpAddress: ip,
      role,
      family,
      platformId,
      series: family === "Routers" ? "Cisco Catalyst 8300 Series Edge Platforms" : "Cisco Catalyst 9300 Series Switches",
      softwareType: "IOS-XE",
      softwareVersion: "17.12.4",
      serialNumber: `FOC2${String(n).padStart(3, "0")}X0A${n}`,
      macAddress: `00:1e:7a:00:00:${String(n).padStart(2, "0")}`,
      reachabilityStatus: "Reachable",
      siteId: site.id,
      overallHealth: 10,
      cpuUtilization: 12 + n,
      memoryUtilization: 40 + n,
      ...extra,
    });
  const core = dev("paris-core-01", "10.10.0.1", "CORE", "Routers", "C8300-1N1S-6T", parisB1, 1);
  dev("paris-access-01", "10.10.1.1", "ACCESS", "Switches and Hubs", "C9300-48P", parisB1, 2);
  const flaky = dev("paris-access-02", "10.10.1.2", "ACCESS", "Switches and Hubs", "C9300-48P", parisB1, 3, {
    overallHealth: 3,
    cpuUtilization: 91,
  });
  dev("ny-core-01", "10.20.0.1", "CORE", "Routers", "C8300-1N1S-6T", nyB1, 4);
  dev("ny-access-01", "10.20.1.1", "ACCESS", "Switches and Hubs", "C9300-48P", nyB1, 5, {
    reachabilityStatus: "Unreachable",
    overallHealth: 0,
  });
  const now = Date.now();
  s.issues.push(
    {
      issueId: randomUUID(),
      name: "High CPU utilization on paris-access-02",
      siteId: parisB1.id,
      deviceId: flaky.id,
      deviceRole: "ACCESS",
      priority: "P2",
      status: "active",
      category: "Device",
      aiDriven: "No",
      clientMac: "",
      issue_occurence_count: 4,
      last_occurence_time: now - 60_000,
    },
    {
      issueId: randomUUID(),
      name: "Interface GigabitEthernet0/0/1 flapping on paris-core-01",
      siteId: parisB1.id,
      deviceId: core.id,
      deviceRole: "CORE",
      priority: "P3",
      status: "resolved",
      category: "Connectivity",
      aiDriven: "No",
      clientMac: "",
      issue_occurence_count: 1,
      last_occurence_time: now - 3_600_000,
    },
  );
  const project = s.addProject("Campus Baseline", "Day-N configuration for campus switches");
  s.addTemplate({
    name: "access-vlan",
    projectId: project.id,
    description: "Create an access VLAN",
    language: "VELOCITY",
    softwareType: "IOS-XE",
    productFamily: "Switches and Hubs",
    templateContent: "vlan $vlan_id\n name ${vlan_name}\n",
    templateParams: [
      { parameterName: "vlan_id", dataType: "INTEGER", required: true, description: "VLAN number" },
      { parameterName: "vlan_name", dataType: "STRING", required: false, defaultValue: "users" },
    ],
  });
  s.addTemplate({
    name: "ntp-servers",
    projectId: project.id,
    description: "NTP servers",
    language: "JINJA",
    softwareType: "IOS-XE",
    productFamily: "Switches and Hubs",
    templateContent: "ntp server {{ ntp_primary }}\nntp server {{ ntp_secondary }}\n",
    templateParams: [
      { parameterName: "ntp_primary", dataType: "IPADDRESS", required: true },
      { parameterName: "ntp_secondary", dataType: "IPADDRESS", required: true },
    ],
  });
}
