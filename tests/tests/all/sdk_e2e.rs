//! The official Python SDKs (Instance SDK, management and core SDKs, Secrets Manager clients) against a
//! real `aapkit serve` (see tests/e2e/*.py).

use std::process::Command;

fn run_script(name: &str) -> Result<(), String> {
    let python = aapkit_tests::sdk_python()?;
    let bin = aapkit_tests::aapkit_bin()?;
    let wasm = aapkit_tests::filter_wasm()?;
    let script = aapkit_tests::repo_root().join("tests/e2e").join(name);
    let out = Command::new(python)
        .arg(&script)
        .env("AAPKIT_BIN", bin)
        .env("AAPKIT_FILTER_WASM", wasm)
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        println!("{text}");
        Ok(())
    } else {
        Err(format!("the SDK end-to-end tests in {name} failed:\n{text}"))
    }
}

#[test]
fn python_sdk_end_to_end() -> Result<(), String> {
    run_script("test_sdk.py")
}

/// QPS quota 429 retried by the SDK, the audit log of both attempts, /metrics.
#[test]
fn python_sdk_operations() -> Result<(), String> {
    run_script("test_ops_sdk.py")
}

/// `x-kms-migrationkeyversionid` on crypto responses and the older Decrypt form (issue 10 §6).
#[test]
fn python_sdk_protocol_fidelity() -> Result<(), String> {
    run_script("test_protocol_sdk.py")
}

/// A body over 3 MiB: a clean 413 with a protobuf Error, in one attempt (issue 10 §6).
#[test]
fn python_sdk_oversize_body() -> Result<(), String> {
    run_script("test_limits_sdk.py")
}

/// The management SDK alibabacloud-kms20160120 3.3.1 (ACS3-HMAC-SHA256) against the KMS OpenAPI
/// (issue 12): AAP, key and secret lifecycles, the Instance SDK using what it created, errors.
#[test]
fn python_management_sdk_openapi() -> Result<(), String> {
    run_script("test_openapi_sdk.py")
}

/// The older core SDK (RPC v1 HMAC-SHA1, form bodies as Terraform sends them) against the KMS
/// OpenAPI, and the refused requests: tampered, expired, replayed, unknown/disabled AccessKey.
#[test]
fn python_core_sdk_openapi() -> Result<(), String> {
    run_script("test_openapi_core.py")
}

/// The shared KMS gateway (issue 13): aliyun-secret-manager-client 0.1.5 with a client key on the
/// KMS endpoint (RPC v1 SHA256withRSA, decided by the filter in scope `shared`) and in its
/// KMS-instance mode (dkms-gcs), refusals with their codes, and the cross-checks between the doors.
#[test]
fn python_shared_gateway_sdk() -> Result<(), String> {
    run_script("test_shared_gateway_sdk.py")
}

/// RAM-role credentials (issue 13): alibabacloud-secretsmanager-client-v2 2.0.0 through the
/// credentials URI and AssumeRoleWithOIDC (test issuer), the refused tokens, revocation by deleting
/// the role; the session on ACS3 and RPC v1 with the management and core SDKs.
#[test]
fn python_ram_role_sdk() -> Result<(), String> {
    run_script("test_ram_role_sdk.py")
}

/// Several gateways on one PostgreSQL (issue 14), the official Instance and management SDKs
/// driving all of them: propagation within one second, a database outage under load, `kill -9`
/// mid-burst with no acknowledged write lost.
#[test]
fn python_sdk_multi_gateway() -> Result<(), String> {
    run_script("test_multi_gateway_sdk.py")
}
