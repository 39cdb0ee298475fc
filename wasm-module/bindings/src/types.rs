//! TypeScript declarations of the JSON shapes crossing the boundary (wasm-bindgen types them
//! `any` otherwise). PascalCase shapes are policy-core's own documents (the shared fixture
//! format); camelCase shapes belong to this package.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** One mistake in a bundle document. `path` is a JSONPath such as `$.Policies[1].Resources[0]`. */
export interface BundleErrorInfo {
  path: string;
  /** The offending value as compact JSON; empty when the value is missing. */
  value: string;
  message: string;
}

export interface BundleValidation {
  ok: boolean;
  errors: BundleErrorInfo[];
}

/** An Instance API operation of the catalogue. */
export interface ApiInfo {
  name: string;
  /** The permission template (short name) an instance-scope policy must grant. */
  permission: "CryptoServiceKeyUser" | "CryptoServiceSecretUser" | "SecretUser";
  resourceKind: "Key" | "Secret" | "None";
  qpsGroup: string;
}

/** An access request (policy-core's AccessRequestDoc; the decision fixtures use this shape). */
export interface AccessRequestDoc {
  ClientKeyId: string;
  /** API name, e.g. "Encrypt" (see apiCatalogue()). */
  Api: string;
  /** Key id, "alias/..." or secret name; null/absent for GenerateRandom. */
  Resource?: string | null;
  /** IPv4 or IPv6 source address. */
  SourceIp: string;
  /** "kst-..." or "shared"; defaults to the bundle's Gateway.Scope. */
  Scope?: string | null;
  /** Evaluation time, RFC 3339, e.g. "2025-06-01T12:00:00Z". */
  Time: string;
}

export type CheckOutcome = "Pass" | "Fail" | "NotEvaluated";

/** How one policy of the access point fared, check by check, in evaluation order. */
export interface PolicyTraceReport {
  Policy: string;
  Scope: CheckOutcome;
  Role: CheckOutcome;
  Resource: CheckOutcome;
  Network: CheckOutcome;
}

/** A decision (policy-core's DecisionReport). */
export interface DecisionReport {
  Allowed: boolean;
  /** Wire error code of a deny, e.g. "Forbidden.NoPermission". */
  ErrorCode: string | null;
  /** 200 when allowed. */
  HttpStatus: number;
  /** The operator's account of a deny (for a policy deny: the AAP and how each policy fared). */
  Message: string | null;
  /** The ErrorMessage the caller gets: Alibaba's wording, no AAP, policy or check names. */
  WireMessage: string | null;
  ClientKeyId: string | null;
  Aap: string | null;
  /** The policy that allowed the request. */
  Policy: string | null;
  /** The resolved resource (aliases resolved to key ids). */
  Resource: string | null;
  QpsGroup: string | null;
  /** For a policy deny: the failing check of each policy. */
  FailedChecks: { Policy: string; Check: "Scope" | "Role" | "Resource" | "Network" }[];
  /** Filled by explain(); empty from decide(). */
  Trace: PolicyTraceReport[];
}

/** A raw signed Instance API request. */
export interface SignedRequestInput {
  /** Default "POST". */
  method?: string;
  /** [name, value] pairs in order, or an object. */
  headers: [string, string][] | Record<string, string>;
  /** The body as hex or base64 (one of them; none = empty body). */
  bodyHex?: string;
  bodyBase64?: string;
  /** Server time, seconds since the epoch; default: the request's own date. */
  now?: number;
  /** The caller's address (default 127.0.0.1); X-Forwarded-For is honoured for trusted proxies. */
  sourceIp?: string | null;
}

export interface SignedRequestReport {
  /** The canonical string-to-sign rebuilt from the request. */
  stringToSign: string;
  contentSha256Ok: boolean;
  /** Upper-case hex SHA-256 of the body. */
  expectedContentSha256: string;
  /** The content-sha256 header, if present. */
  givenContentSha256: string | null;
  /** null when no server time is known. */
  dateOk: boolean | null;
  dateDetail: string;
  /** null when no bundle or the client key is not in it. */
  signatureOk: boolean | null;
  signatureDetail: string;
  /** The verdict of policy-core's authorize (false without a bundle). */
  allowed: boolean;
  code: string | null;
  httpStatus: number | null;
  message: string | null;
  decision: DecisionReport | null;
}
"#;
