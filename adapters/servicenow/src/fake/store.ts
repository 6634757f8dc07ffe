// The ServiceNow fake's state: tables of string-valued records, users with passwords and roles, and
// the ITSM business rules the fake reproduces (numbering, journal fields, data policies, change states).

import { randomBytes } from "node:crypto";

export type FakeRecord = Record<string, string>;

export interface TableDef {
  /** Number prefix and first number (INC0010001). */
  readonly number?: { prefix: string; start: number };
  /** reference field → referenced table */
  readonly references: Record<string, string>;
  /** choice field → value → label */
  readonly choices: Record<string, Record<string, string>>;
  /** The field shown as a reference's display value. */
  readonly displayField: string;
  /** Role needed to insert/update/delete ("itil" tables accept itil or admin). */
  readonly writeRole: "itil" | "admin";
  readonly journal?: readonly string[];
}

const INCIDENT_STATES = { "1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled" };
export const CHANGE_STATES = {
  "-5": "New",
  "-4": "Assess",
  "-3": "Authorize",
  "-2": "Scheduled",
  "-1": "Implement",
  "0": "Review",
  "3": "Closed",
  "4": "Canceled",
};
const PROBLEM_STATES = {
  "101": "New",
  "102": "Assess",
  "103": "Root Cause Analysis",
  "104": "Fix in Progress",
  "106": "Resolved",
  "107": "Closed",
};
const PRIORITY = { "1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning" };
const IMPACT = { "1": "1 - High", "2": "2 - Medium", "3": "3 - Low" };
const task = { assignment_group: "sys_user_group", assigned_to: "sys_user", cmdb_ci: "cmdb_ci", opened_by: "sys_user" };

export const TABLES: Record<string, TableDef> = {
  incident: {
    number: { prefix: "INC", start: 10001 },
    references: { ...task, caller_id: "sys_user", resolved_by: "sys_user", closed_by: "sys_user", problem_id: "problem" },
    choices: { state: INCIDENT_STATES, priority: PRIORITY, impact: IMPACT, urgency: IMPACT },
    displayField: "number",
    writeRole: "itil",
    journal: ["work_notes", "comments"],
  },
  change_request: {
    number: { prefix: "CHG", start: 30001 },
    references: { ...task, requested_by: "sys_user" },
    choices: { state: CHANGE_STATES, priority: PRIORITY, impact: IMPACT, risk: { "2": "High", "3": "Moderate", "4": "Low" } },
    displayField: "number",
    writeRole: "itil",
    journal: ["work_notes", "comments"],
  },
  problem: {
    number: { prefix: "PRB", start: 40001 },
    references: task,
    choices: { state: PROBLEM_STATES, priority: PRIORITY, impact: IMPACT, urgency: IMPACT },
    displayField: "number",
    writeRole: "itil",
    journal: ["work_notes", "comments"],
  },
  sc_req_item: {
    number: { prefix: "RITM", start: 10001 },
    references: { ...task, requested_for: "sys_user" },
    choices: {},
    displayField: "number",
    writeRole: "itil",
    journal: ["work_notes", "comments"],
  },
  cmdb_ci: {
    references: { assigned_to: "sys_user", support_group: "sys_user_group" },
    choices: {},
    displayField: "name",
    writeRole: "admin",
  },
  sys_user: { references: { manager: "sys_user" }, choices: {}, displayField: "name", writeRole: "admin" },
  sys_user_group: { references: { manager: "sys_user" }, choices: {}, displayField: "name", writeRole: "admin" },
  sys_journal_field: { references: {}, choices: {}, displayField: "value", writeRole: "admin" },
};

export interface FakeUser {
  readonly user_name: string;
  readonly password: string;
  readonly name?: string;
  readonly email?: string;
  readonly roles?: readonly string[];
}

export interface FakeOAuthClient {
  readonly clientId: string;
  readonly clientSecret: string;
  /** The user a client_credentials grant acts as. */
  readonly user: string;
}

/** A business-rule or ACL refusal, answered as the product's error envelope. */
export class FakeError extends Error {
  readonly status: number;
  readonly detail: string | null;
  constructor(status: number, message: string, detail: string | null = null) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

/** Fields the instance sets; a write naming them is ignored for them. */
export const SERVER_FIELDS = new Set(["sys_id", "sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count"]);

export const newSysId = () => randomBytes(16).toString("hex");
export const isSysId = (s: string) => /^[0-9a-f]{32}$/.test(s);

/** "2026-11-30 21:00:00" in UTC. */
export const glideDate = (d = new Date()) => d.toISOString().slice(0, 19).replace("T", " ");

// Change state models: which state may follow which (any non-closed change may be Canceled).
const NORMAL_NEXT: Record<string, string> = { "-5": "-4", "-4": "-3", "-3": "-2", "-2": "-1", "-1": "0", "0": "3" };
const STANDARD_NEXT: Record<string, string> = { "-5": "-2", "-2": "-1", "-1": "0", "0": "3" };

export class FakeStore {
  readonly tables = new Map<string, Map<string, FakeRecord>>();
  readonly #counters = new Map<string, number>();
  /** user_name → password and roles (passwords are not stored in sys_user records). */
  readonly credentials = new Map<string, { password: string; roles: readonly string[] }>();

  constructor() {
    for (const t of Object.keys(TABLES)) this.tables.set(t, new Map());
  }

  table(name: string): Map<string, FakeRecord> {
    const t = this.tables.get(name);
    if (!t) throw new FakeError(400, `Invalid table ${name}`);
    return t;
  }

  addUser(u: FakeUser): FakeRecord {
    this.credentials.set(u.user_name, { password: u.password, roles: u.roles ?? [] });
    return this.insert(
      "sys_user",
      { user_name: u.user_name, name: u.name ?? u.user_name, email: u.email ?? "", active: "true", roles: (u.roles ?? []).join(",") },
      "system",
    );
  }

  rolesOf(user: string): readonly string[] {
    return this.credentials.get(user)?.roles ?? [];
  }

  /** Find one record by a field value. */
  findBy(table: string, field: string, value: string): FakeRecord | undefined {
    for (const r of this.table(table).values()) if (r[field] === value) return r;
    return undefined;
  }

  /** Journal entries of a record's field, newest first. */
  journal(table: string, sysId: string, element: string): FakeRecord[] {
    return [...this.table("sys_journal_field").values()]
      .filter((j) => j.name === table && j.element_id === sysId && j.element === element)
      .sort((a, b) =>
        a.sys_created_on! < b.sys_created_on! ? 1 : a.sys_created_on! > b.sys_created_on! ? -1 : Number(b.seq) - Number(a.seq),
      );
  }

  #nextNumber(table: string): string | undefined {
    const def = TABLES[table]?.number;
    if (!def) return undefined;
    const n = this.#counters.get(table) ?? def.start;
    this.#counters.set(table, n + 1);
    return `${def.prefix}${String(n).padStart(7, "0")}`;
  }

  #journalSeq = 0;

  #writeJournal(table: string, sysId: string, element: string, value: string, user: string): void {
    const now = glideDate();
    const id = newSysId();
    this.table("sys_journal_field").set(id, {
      sys_id: id,
      name: table,
      element_id: sysId,
      element,
      value,
      seq: String(++this.#journalSeq),
      sys_created_on: now,
      sys_created_by: user,
      sys_updated_on: now,
      sys_updated_by: user,
      sys_mod_count: "0",
    });
  }

  /** Insert with server-set fields; `fields` are already strings. */
  insert(table: string, fields: FakeRecord, user: string): FakeRecord {
    const t = this.table(table);
    const def = TABLES[table]!;
    const now = glideDate();
    const rec: FakeRecord = {};
    const journal: Array<[string, string]> = [];
    for (const [k, v] of Object.entries(fields)) {
      if (SERVER_FIELDS.has(k)) continue;
      if (def.journal?.includes(k)) {
        if (v !== "") journal.push([k, v]);
        continue;
      }
      rec[k] = v;
    }
    const sysId = newSysId();
    Object.assign(rec, {
      sys_id: sysId,
      sys_created_on: now,
      sys_created_by: user,
      sys_updated_on: now,
      sys_updated_by: user,
      sys_mod_count: "0",
    });
    const number = this.#nextNumber(table);
    if (number && !rec.number) rec.number = number;
    if (table === "incident") {
      rec.state ??= "1";
      rec.active ??= "true";
      rec.opened_at ??= now;
    }
    if (table === "problem") rec.state ??= "101";
    if (table === "change_request") {
      rec.state ??= "-5";
      rec.type ??= "normal";
      rec.approval ??= "not yet requested";
      rec.active ??= "true";
      if (!["normal", "standard", "emergency"].includes(rec.type))
        throw new FakeError(400, "Invalid change type", `type must be normal, standard or emergency, not ${rec.type}`);
      if (rec.state !== "-5") throw new FakeError(403, "Operation Failed", "A new change request starts in state New (-5)");
    }
    this.#checkDataPolicy(table, rec);
    t.set(sysId, rec);
    for (const [el, text] of journal) this.#writeJournal(table, sysId, el, text, user);
    return rec;
  }

  update(table: string, sysId: string, fields: FakeRecord, user: string): FakeRecord {
    const current = this.table(table).get(sysId);
    if (!current) throw new FakeError(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval");
    const def = TABLES[table]!;
    const next: FakeRecord = { ...current };
    const journal: Array<[string, string]> = [];
    for (const [k, v] of Object.entries(fields)) {
      if (SERVER_FIELDS.has(k) || k === "number") continue;
      if (def.journal?.includes(k)) {
        if (v !== "") journal.push([k, v]);
        continue;
      }
      next[k] = v;
    }
    const now = glideDate();
    if (table === "change_request" && next.state !== current.state) this.#checkChangeMove(current, next);
    if (table === "incident" && next.state !== current.state) {
      if (next.state === "6") {
        next.resolved_at = now;
        next.resolved_by = this.findBy("sys_user", "user_name", user)?.sys_id ?? "";
      }
      if (next.state === "7") {
        next.closed_at = now;
        next.active = "false";
      }
      if (next.state === "8") next.active = "false";
    }
    if (table === "change_request" && (next.state === "3" || next.state === "4")) {
      next.active = "false";
      next.closed_at ??= now;
    }
    this.#checkDataPolicy(table, next);
    Object.assign(next, { sys_updated_on: now, sys_updated_by: user, sys_mod_count: String(Number(current.sys_mod_count ?? "0") + 1) });
    this.table(table).set(sysId, next);
    for (const [el, text] of journal) this.#writeJournal(table, sysId, el, text, user);
    return next;
  }

  delete(table: string, sysId: string): void {
    if (!this.table(table).delete(sysId))
      throw new FakeError(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval");
  }

  #checkDataPolicy(table: string, rec: FakeRecord): void {
    const closing = (table === "incident" && (rec.state === "6" || rec.state === "7")) || (table === "change_request" && rec.state === "3");
    if (!closing) return;
    const missing = [
      ...(rec.close_code ? [] : [table === "incident" ? "Resolution code" : "Close code"]),
      ...(rec.close_notes ? [] : [table === "incident" ? "Resolution notes" : "Close notes"]),
    ];
    if (missing.length > 0)
      throw new FakeError(
        403,
        "Operation Failed",
        `Data Policy Exception: \n\tThe following fields are mandatory: ${missing.join(", ")}\n`,
      );
  }

  #checkChangeMove(current: FakeRecord, next: FakeRecord): void {
    const from = current.state ?? "-5";
    const to = next.state ?? "";
    if (!(to in CHANGE_STATES)) throw new FakeError(400, "Invalid state", `${to} is not a change request state`);
    if (from === "3" || from === "4") throw new FakeError(403, "Operation Failed", "The change request is closed");
    const model = current.type === "standard" ? STANDARD_NEXT : NORMAL_NEXT;
    // Emergency changes follow the normal model without Assess.
    const allowed = to === "4" || model[from] === to || (current.type === "emergency" && from === "-5" && to === "-3");
    if (!allowed) {
      const label = (s: string) => `${CHANGE_STATES[s as keyof typeof CHANGE_STATES] ?? s} (${s})`;
      throw new FakeError(
        403,
        "Operation Failed",
        `Invalid state transition for a ${current.type ?? "normal"} change: ${label(from)} to ${label(to)}`,
      );
    }
    if (to === "-3") next.approval = "requested";
    else if (from === "-3" && to !== "4") next.approval = "approved";
  }
}
