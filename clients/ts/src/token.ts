// Bearer tokens: HS256 JWTs (docs/contract.md §3.1).
import { createHmac } from "node:crypto";

const b64url = (b: Buffer | string): string => Buffer.from(b).toString("base64url");

/**
 * Mints an HS256 JWT for `sub`, valid `ttlSeconds` from now (default 3600): header
 * {"alg":"HS256","typ":"JWT"}, claims {sub, iat, exp}. The server refuses a token whose
 * exp lies more than its TOKEN_MAX_LIFETIME (default 24 h) ahead, and a secret shorter
 * than 32 bytes is refused by the server at start, so it is refused here too.
 */
export function mintToken(
  secret: string | Uint8Array,
  sub: string,
  ttlSeconds = 3600,
  opts: { now?: number; notBefore?: number } = {},
): string {
  const key = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  if (key.length < 32) throw new RangeError(`mintToken: the secret is ${key.length} bytes, at least 32 are needed`);
  if (typeof sub !== "string" || sub.length === 0) throw new RangeError("mintToken: sub must be a non-empty string");
  if (Buffer.byteLength(sub, "utf8") > 256) throw new RangeError("mintToken: sub longer than 256 bytes");
  if (!Number.isFinite(ttlSeconds)) throw new RangeError("mintToken: ttlSeconds must be a finite number");
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  // Claims in key order, as the C and Python signers write them: the same
  // inputs give the same token, byte for byte, in every client (golden vectors).
  const claims: Record<string, unknown> = { exp: now + Math.floor(ttlSeconds), iat: now };
  if (opts.notBefore !== undefined) claims.nbf = opts.notBefore;
  claims.sub = sub;
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac("sha256", key).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(sig)}`;
}

/** Decodes a token's claims without checking anything (for diagnostics and tests). */
export function decodeTokenClaims(token: string): Record<string, unknown> {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("not a compact JWT");
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as Record<string, unknown>;
}
