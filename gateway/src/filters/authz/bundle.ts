// Reads an OPA bundle (.tar.gz written by `opa build -t wasm`): policy.wasm, data.json, .manifest.
// A tiny ustar reader (POSIX.1-1988 headers, GNU 'L' and PAX 'x' long names) so no tar dependency.

import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";

export interface WasmBundle {
  readonly wasm: Uint8Array;
  /** Parsed data.json ({} when the bundle has none). */
  readonly data: unknown;
  /** Revision from .manifest, else "sha256:" + 16 hex of wasm + data. */
  readonly revision: string;
  /** Entrypoints the manifest declares (informational; the wasm module's own list is authoritative). */
  readonly entrypoints: string[];
  /** sha256 of the archive bytes, to skip reloads of an unchanged file. */
  readonly digest: string;
}

const BLOCK = 512;
/** Refuse absurd archives (a bundle is a few hundred KB). */
const MAX_UNPACKED = 64 * 1024 * 1024;

function cString(buf: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && buf[end] !== 0) end++;
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("utf8");
}

function octal(buf: Uint8Array, start: number, len: number): number {
  const s = cString(buf, start, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`bad tar size field "${s}"`);
  return Number.parseInt(s, 8);
}

function normalise(name: string): string {
  return name.replace(/^(\.\/|\/)+/, "");
}

/** Extract regular files of a tar archive: name (no leading "/" or "./") → bytes. */
export function untar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let off = 0;
  let longName: string | undefined;
  while (off + BLOCK <= tar.length) {
    const header = tar.subarray(off, off + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const dataStart = off + BLOCK;
    if (dataStart + size > tar.length) throw new Error("truncated tar archive");
    const body = tar.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L") {
      longName = cString(body, 0, body.length);
      continue;
    }
    if (type === "x") {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(Buffer.from(body).toString("utf8"));
      if (m?.[1]) longName = m[1];
      continue;
    }
    let name = longName ?? cString(header, 0, 100);
    longName = undefined;
    const magic = cString(header, 257, 6);
    const prefix = magic.startsWith("ustar") ? cString(header, 345, 155) : "";
    if (prefix && name === cString(header, 0, 100)) name = `${prefix}/${name}`;
    if (type === "0" || type === "\0") files.set(normalise(name), body);
  }
  return files;
}

/** Parse a bundle archive. Throws (with a precise message) on anything that is not a wasm bundle. */
export function readWasmBundle(archive: Uint8Array): WasmBundle {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive, { maxOutputLength: MAX_UNPACKED });
  } catch (e) {
    throw new Error(`bundle is not a gzip archive: ${(e as Error).message}`);
  }
  const files = untar(tar);
  const wasm = files.get("policy.wasm");
  if (!wasm) throw new Error("bundle has no policy.wasm (was it built with `opa build -t wasm`?)");
  const dataBytes = files.get("data.json");
  let data: unknown = {};
  if (dataBytes) {
    try {
      data = JSON.parse(Buffer.from(dataBytes).toString("utf8"));
    } catch (e) {
      throw new Error(`bundle data.json is not JSON: ${(e as Error).message}`);
    }
  }
  let revision = "";
  let entrypoints: string[] = [];
  const manifestBytes = files.get(".manifest");
  if (manifestBytes) {
    try {
      const m = JSON.parse(Buffer.from(manifestBytes).toString("utf8")) as { revision?: unknown; wasm?: Array<{ entrypoint?: unknown }> };
      if (typeof m.revision === "string") revision = m.revision;
      if (Array.isArray(m.wasm)) entrypoints = m.wasm.map((w) => String(w.entrypoint));
    } catch (e) {
      throw new Error(`bundle .manifest is not JSON: ${(e as Error).message}`);
    }
  }
  if (!revision) {
    const h = createHash("sha256").update(wasm);
    if (dataBytes) h.update(dataBytes);
    revision = `sha256:${h.digest("hex").slice(0, 16)}`;
  }
  return { wasm, data, revision, entrypoints, digest: createHash("sha256").update(archive).digest("hex") };
}
