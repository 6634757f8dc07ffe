// ServiceNow encoded queries (`sysparm_query`) for the fake: parse `a=1^ORb=2^cLIKEx^ORDERBYDESCd`
// into AND-ed groups of OR-ed conditions plus an ordering, and evaluate them against string records.

export type Operator =
  | "="
  | "!="
  | "<"
  | ">"
  | "<="
  | ">="
  | "LIKE"
  | "NOT LIKE"
  | "STARTSWITH"
  | "ENDSWITH"
  | "IN"
  | "NOT IN"
  | "ISEMPTY"
  | "ISNOTEMPTY";

export interface Condition {
  readonly field: string;
  readonly op: Operator;
  readonly value: string;
}

export interface EncodedQuery {
  /** AND of ORs: every group must have one matching condition. */
  readonly groups: Condition[][];
  readonly orderBy: Array<{ field: string; desc: boolean }>;
}

export class EncodedQueryError extends Error {}

// Longest operators first so `!=` is not read as `=`, `NOT IN` not as `IN`, `<=` not as `<`.
const TERM = /^([a-z0-9_.]+?)(ISNOTEMPTY|ISEMPTY|NOT IN|NOT LIKE|STARTSWITH|ENDSWITH|LIKE|IN|!=|<=|>=|=|<|>)(.*)$/s;

export function parseEncodedQuery(text: string): EncodedQuery {
  const groups: Condition[][] = [];
  const orderBy: EncodedQuery["orderBy"] = [];
  if (text.trim() === "") return { groups, orderBy };
  for (const raw of text.split("^")) {
    if (raw === "" || raw === "EQ") continue;
    if (raw.startsWith("ORDERBYDESC")) {
      orderBy.push({ field: raw.slice(11), desc: true });
      continue;
    }
    if (raw.startsWith("ORDERBY")) {
      orderBy.push({ field: raw.slice(7), desc: false });
      continue;
    }
    const isOr = raw.startsWith("OR") && groups.length > 0;
    const term = isOr ? raw.slice(2) : raw;
    const m = TERM.exec(term);
    if (!m) throw new EncodedQueryError(`Invalid query term: ${raw}`);
    const cond: Condition = { field: m[1]!, op: m[2] as Operator, value: m[3] ?? "" };
    if ((cond.op === "ISEMPTY" || cond.op === "ISNOTEMPTY") && cond.value !== "") throw new EncodedQueryError(`Invalid query term: ${raw}`);
    if (isOr) groups[groups.length - 1]!.push(cond);
    else groups.push([cond]);
  }
  return { groups, orderBy };
}

const numeric = (s: string) => s.trim() !== "" && Number.isFinite(Number(s));

function compare(a: string, b: string): number {
  if (numeric(a) && numeric(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

export function matches(c: Condition, actual: string | undefined): boolean {
  const v = actual ?? "";
  switch (c.op) {
    case "=":
      return v === c.value;
    case "!=":
      return v !== c.value;
    case "<":
      return v !== "" && compare(v, c.value) < 0;
    case ">":
      return v !== "" && compare(v, c.value) > 0;
    case "<=":
      return v !== "" && compare(v, c.value) <= 0;
    case ">=":
      return v !== "" && compare(v, c.value) >= 0;
    case "LIKE":
      return v.toLowerCase().includes(c.value.toLowerCase());
    case "NOT LIKE":
      return !v.toLowerCase().includes(c.value.toLowerCase());
    case "STARTSWITH":
      return v.toLowerCase().startsWith(c.value.toLowerCase());
    case "ENDSWITH":
      return v.toLowerCase().endsWith(c.value.toLowerCase());
    case "IN":
      return c.value.split(",").includes(v);
    case "NOT IN":
      return !c.value.split(",").includes(v);
    case "ISEMPTY":
      return v === "";
    case "ISNOTEMPTY":
      return v !== "";
  }
}

/** `resolve(field)` reads a field, following one dot-walk (`caller_id.user_name`) when the fake supports it. */
export function evaluate(q: EncodedQuery, resolve: (field: string) => string | undefined): boolean {
  return q.groups.every((group) => group.some((c) => matches(c, resolve(c.field))));
}

export function sortRecords<T>(rows: T[], q: EncodedQuery, read: (row: T, field: string) => string): T[] {
  if (q.orderBy.length === 0) return rows;
  return [...rows].sort((x, y) => {
    for (const o of q.orderBy) {
      const d = compare(read(x, o.field), read(y, o.field));
      if (d !== 0) return o.desc ? -d : d;
    }
    return 0;
  });
}
