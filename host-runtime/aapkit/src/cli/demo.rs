//! `aapkit demo`: a working gateway in one command. Initialises the data directory, creates (once)
//! a demo key, secret, network rule, policy, AAP and client key, prints how to call it, then serves.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use zeroize::Zeroizing;

use super::gateway::{self, InitArgs, InstanceConfig, ServeArgs};
use super::output::Out;
use super::{Cli, CliError};
use aapkit_kms::keyring::SecretDataType;
use aapkit_store::{AapInput, NetworkRuleInput, PolicyInput, RamRoleInput, SecretValueInput, StoreError};

pub const DEMO_INSTANCE: &str = "kst-aapkitdemo0000001";
pub const DEMO_AAP: &str = "demo-app";
pub const DEMO_POLICY: &str = "demo-policy";
pub const DEMO_RULE: &str = "demo-loopback";
pub const DEMO_ALIAS: &str = "alias/demo";
pub const DEMO_RSA_ALIAS: &str = "alias/demo-rsa";
pub const DEMO_SECRET: &str = "demo/db-password";
/// The demo AAP's second policy: the same secrets through the shared gateway (the KMS endpoint).
pub const DEMO_SHARED_POLICY: &str = "demo-shared-policy";
/// The AAP whose credential is the RAM role [`DEMO_ROLE`].
pub const DEMO_ROLE_AAP: &str = "demo-role-app";
pub const DEMO_ROLE: &str = "DemoReader";

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Set up and print, but do not start the server.
    #[arg(long)]
    pub no_serve: bool,
}

/// What the demo created (or found from an earlier run).
struct DemoSetup {
    instance_id: String,
    aes_key: String,
    rsa_key: String,
    client_key_id: String,
    client_key_file: PathBuf,
    password_file: PathBuf,
    ca_file: PathBuf,
    /// The RAM role's credentials-URI token (kept in the demo directory, 0600).
    role_token_file: PathBuf,
}

fn is_not_found(e: &StoreError) -> bool {
    matches!(e.code(), "Forbidden.ResourceNotFound" | "Forbidden.KeyNotFound")
}

/// `Ok(None)` when the resource is absent, so setup can create it; other errors stop the demo.
fn found<T>(r: Result<T, StoreError>) -> Result<Option<T>, CliError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A random password that meets Alibaba's client-key password rule.
fn demo_password() -> Zeroizing<String> {
    let u = uuid::Uuid::new_v4().simple().to_string();
    Zeroizing::new(format!("Demo-{}", u.get(..20).unwrap_or(&u)))
}

fn setup(cli: &Cli, out: &Out) -> Result<DemoSetup, CliError> {
    let data = &cli.data_dir;
    if InstanceConfig::load(data).is_err() {
        let init = InitArgs {
            instance_id: Some(DEMO_INSTANCE.into()),
            dns: vec![],
            ips: vec![],
            force: false,
            region_id: None,
        };
        gateway::run_init(cli, &init, out)?;
    }
    let instance_id = InstanceConfig::load(data)?.instance_id;
    let store = super::open(cli)?;

    let aes_key = match found(store.describe_key(DEMO_ALIAS))? {
        Some(k) => k.key_id,
        None => {
            let k = store.create_key(Some("Aliyun_AES_256"), "aapkit demo symmetric key")?;
            store.create_alias(DEMO_ALIAS, &k.key_id)?;
            k.key_id
        }
    };
    let rsa_key = match found(store.describe_key(DEMO_RSA_ALIAS))? {
        Some(k) => k.key_id,
        None => {
            let k = store.create_key(Some("RSA_2048"), "aapkit demo signing key")?;
            store.create_alias(DEMO_RSA_ALIAS, &k.key_id)?;
            k.key_id
        }
    };
    if found(store.describe_secret(DEMO_SECRET))?.is_none() {
        store.create_secret(
            DEMO_SECRET,
            &aes_key,
            "aapkit demo secret",
            SecretValueInput {
                data: Zeroizing::new(b"correct-horse-battery-staple".to_vec()),
                data_type: SecretDataType::Text,
                version_id: None,
                version_stages: vec![],
            },
        )?;
    }
    if found(store.describe_network_rule(DEMO_RULE))?.is_none() {
        store.create_network_rule(&NetworkRuleInput {
            name: DEMO_RULE.into(),
            network_type: "Private".into(),
            source_private_ip: vec!["127.0.0.1/32".into(), "::1".into()],
            description: "loopback only".into(),
        })?;
    }
    if found(store.describe_policy(DEMO_POLICY))?.is_none() {
        store.create_policy(&PolicyInput {
            name: DEMO_POLICY.into(),
            permissions: vec![
                "RbacPermission/Template/CryptoServiceKeyUser".into(),
                "RbacPermission/Template/CryptoServiceSecretUser".into(),
            ],
            resources: vec![format!("key/{aes_key}"), format!("key/{rsa_key}"), "secret/demo/*".into()],
            kms_instance: instance_id.clone(),
            network_rules: vec![DEMO_RULE.into()],
            description: "the demo application's keys and secrets, from loopback".into(),
        })?;
    }
    if found(store.describe_policy(DEMO_SHARED_POLICY))?.is_none() {
        store.create_policy(&PolicyInput {
            name: DEMO_SHARED_POLICY.into(),
            permissions: vec!["RbacPermission/Template/CryptoServiceSecretUser".into()],
            resources: vec!["secret/demo/*".into()],
            kms_instance: "shared".into(),
            network_rules: vec![DEMO_RULE.into()],
            description: "the demo secrets through the shared gateway (the KMS endpoint), from loopback".into(),
        })?;
    }
    if found(store.describe_aap(DEMO_AAP))?.is_none() {
        store.create_aap(&AapInput {
            name: DEMO_AAP.into(),
            policies: vec![DEMO_POLICY.into(), DEMO_SHARED_POLICY.into()],
            authentication_method: "ClientKey".into(),
            description: "aapkit demo application".into(),
        })?;
    }
    if found(store.describe_aap(DEMO_ROLE_AAP))?.is_none() {
        store.create_aap(&AapInput {
            name: DEMO_ROLE_AAP.into(),
            policies: vec![DEMO_SHARED_POLICY.into()],
            authentication_method: "RAMRole".into(),
            description: "the demo secrets for the RAM role's sessions".into(),
        })?;
    }

    let demo_dir = data.join("demo");
    std::fs::create_dir_all(&demo_dir).map_err(|e| CliError::file(&demo_dir, e))?;
    let client_key_file = demo_dir.join(format!("clientKey_{DEMO_AAP}.json"));
    let password_file = demo_dir.join(format!("clientKey_{DEMO_AAP}_Password.txt"));
    let client_key_id = if client_key_file.is_file() && password_file.is_file() {
        let content = std::fs::read_to_string(&client_key_file).map_err(|e| CliError::file(&client_key_file, e))?;
        let v: serde_json::Value = serde_json::from_str(&content)
            .map_err(|e| CliError::Usage(format!("{}: {e}", client_key_file.display())))?;
        v.get("KeyId").and_then(|k| k.as_str()).unwrap_or_default().to_string()
    } else {
        let _ = std::fs::remove_file(&client_key_file);
        let _ = std::fs::remove_file(&password_file);
        let password = demo_password();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let not_after = now + 365 * 86_400; // the docs recommend one year
        let info = super::client_key::create_client_key(&store, DEMO_AAP, &password, now, not_after, &client_key_file)?;
        super::client_key::write_private_file(&password_file, password.as_bytes())?;
        info.client_key_id
    };
    // The RAM role and its credentials-URI token (shown once by the store: kept in a 0600 file).
    let role_token_file = demo_dir.join(format!("{DEMO_ROLE}_credentials_uri_token.txt"));
    let token = match found(store.describe_ram_role(DEMO_ROLE))? {
        Some(_) if role_token_file.is_file() => None,
        Some(_) => Some(store.rotate_credentials_uri_token(DEMO_ROLE)?),
        None => {
            store
                .create_ram_role(&RamRoleInput {
                    name: DEMO_ROLE.into(),
                    aap: DEMO_ROLE_AAP.into(),
                    oidc: None,
                    credentials_uri_token: true,
                    max_session_duration: None,
                    description: "aapkit demo role (credentials URI)".into(),
                })?
                .credentials_uri_token
        }
    };
    if let Some(token) = token {
        let _ = std::fs::remove_file(&role_token_file);
        super::client_key::write_private_file(&role_token_file, token.as_bytes())?;
    }
    Ok(DemoSetup {
        instance_id,
        role_token_file,
        aes_key,
        rsa_key,
        client_key_id,
        client_key_file,
        password_file,
        ca_file: data.join("ca.pem"),
    })
}

fn abs(p: &Path) -> String {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

pub fn run(cli: &Cli, args: &DemoArgs, out: &Out) -> Result<(), CliError> {
    let s = setup(cli, out)?;
    let endpoint = args.serve.listen.to_string();
    let openapi = (!args.serve.no_openapi).then(|| {
        let scheme = if args.serve.openapi_plain_http { "http" } else { "https" };
        (scheme, args.serve.openapi_listen.to_string())
    });
    let access_key_file = cli.data_dir.join(super::access_key::ADMIN_ACCESS_KEY_FILE);
    let management_snippet = openapi.as_ref().map(|(scheme, addr)| {
        format!(
            r#"# pip install alibabacloud-kms20160120==3.3.1
import json
from alibabacloud_tea_openapi.models import Config as ManagementConfig
from alibabacloud_kms20160120.client import Client as KmsClient
from alibabacloud_kms20160120 import models as kms

ak = json.load(open("{akf}"))
kms_client = KmsClient(ManagementConfig(access_key_id=ak["AccessKeyId"], access_key_secret=ak["AccessKeySecret"],
                                        region_id=ak["RegionId"], endpoint="{addr}", protocol="{scheme}",
                                        ca="{ca}"))
print(kms_client.describe_policy(kms.DescribePolicyRequest(name="{policy}")).body)"#,
            akf = abs(&access_key_file),
            ca = abs(&s.ca_file),
            policy = DEMO_POLICY,
        )
    });
    // The KMS endpoint's data plane: the Secrets Manager clients, unmodified, configured by
    // environment as an application would be (tests/e2e/test_shared_gateway_sdk.py and
    // test_ram_role_sdk.py run the same configurations).
    let region = super::open(cli)?.account()?.region_id;
    let shared_snippet = openapi.as_ref().map(|(scheme, addr)| {
        // SMC1 signs over CORE, which takes `http://…` verbatim and otherwise speaks HTTPS without
        // verifying the certificate (its client sets verify=False).
        let endpoint = if *scheme == "http" { format!("http://{addr}") } else { addr.clone() };
        format!(
            r#"# pip install aliyun-secret-manager-client==0.1.5 --no-deps \
#   aliyun-python-sdk-core==2.16.1 aliyun-python-sdk-kms==2.16.5 'pyOpenSSL<23.3' 'cryptography>=41,<42'
export credentials_type=client_key
export client_key_private_key_path={ckf}
export client_key_password_from_file_path={pwf}
export cache_client_region_id='[{{"regionId":"{region}","endpoint":"{endpoint}"}}]'
python3 -c 'from alibaba_cloud_secretsmanager_client.secret_manager_cache_client_builder import SecretManagerCacheClientBuilder as B
print(B.new_client().get_secret_info("{secret}").secret_value)'"#,
            ckf = abs(&s.client_key_file),
            pwf = abs(&s.password_file),
            secret = DEMO_SECRET,
        )
    });
    let role_snippet = openapi.as_ref().map(|(scheme, addr)| {
        let tls = if *scheme == "https" {
            format!("\n# the KMS endpoint's certificate is the instance CA's: trust it for the SDK's TLS\nexport SSL_CERT_FILE={}", abs(&s.ca_file))
        } else {
            String::new()
        };
        format!(
            r#"# pip install alibabacloud-secretsmanager-client-v2==2.0.0 alibabacloud-credentials==1.0.12{tls}
export ALIBABA_CLOUD_CREDENTIALS_URI="{scheme}://{addr}/v1/credentials?role={role}&token=$(cat {token})"
export ALIBABA_CLOUD_ECS_METADATA_DISABLED=true
export cache_client_region_id='[{{"regionId":"{region}","endpoint":"{scheme}://{addr}"}}]'
python3 -c 'from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import SecretManagerCacheClientBuilder as B
print(B.new_client().get_secret_info("{secret}").secret_value)'"#,
            role = DEMO_ROLE,
            token = abs(&s.role_token_file),
            secret = DEMO_SECRET,
        )
    });
    let snippet = format!(
        r#"# pip install alibabacloud-dkms-gcs==1.0.2 'cryptography>=41,<42'
from openapi.models import Config
from sdk.client import Client
from sdk.models import EncryptRequest, DecryptRequest, GetSecretValueRequest

client = Client(Config(protocol="https", endpoint="{endpoint}",
                       client_key_file="{ckf}",
                       password=open("{pwf}").read().strip(),
                       ca_file_path="{ca}"))
enc = client.encrypt(EncryptRequest(key_id="{alias}", plaintext=b"hello aapkit"))
print(client.decrypt(DecryptRequest(ciphertext_blob=enc.ciphertext_blob)).plaintext)
print(client.get_secret_value(GetSecretValueRequest(secret_name="{secret}")).secret_data)"#,
        ckf = abs(&s.client_key_file),
        pwf = abs(&s.password_file),
        ca = abs(&s.ca_file),
        alias = DEMO_ALIAS,
        secret = DEMO_SECRET,
    );
    out.emit(
        &json!({
            "InstanceId": s.instance_id,
            "Endpoint": endpoint,
            "KeyId": s.aes_key,
            "SigningKeyId": s.rsa_key,
            "SecretName": DEMO_SECRET,
            "Aap": DEMO_AAP,
            "ClientKeyId": s.client_key_id,
            "ClientKeyFile": abs(&s.client_key_file),
            "PasswordFile": abs(&s.password_file),
            "CaCertificate": abs(&s.ca_file),
            "PythonSnippet": snippet,
            "OpenApiEndpoint": openapi.as_ref().map(|(scheme, addr)| format!("{scheme}://{addr}")),
            "AccessKeyFile": abs(&access_key_file),
            "ManagementSnippet": management_snippet,
            "SharedGatewaySnippet": shared_snippet,
            "RamRole": DEMO_ROLE,
            "RamRoleTokenFile": abs(&s.role_token_file),
            "RamRoleSnippet": role_snippet,
        }),
        || {
            let management = match (&openapi, &management_snippet) {
                (Some((scheme, addr)), Some(m)) => format!(
                    "\nThe KMS endpoint (management OpenAPI) is {scheme}://{addr}, signed with the admin AccessKey in\n{akf} (made by `aapkit init`). Manage AAPs, keys and secrets with the official\nmanagement SDK:\n\n{m}\n",
                    akf = abs(&access_key_file),
                ),
                _ => String::new(),
            };
            let data_plane = match (&openapi, &shared_snippet, &role_snippet) {
                (Some((scheme, addr)), Some(shared), Some(role)) => format!(
                    "\nThe same endpoint is the shared KMS gateway: the client key reads {DEMO_SECRET} there too\n(policy {DEMO_SHARED_POLICY}, scope shared), with the Secrets Manager client:\n\n{shared}\n\nAnd the RAM role {DEMO_ROLE} (AAP {DEMO_ROLE_AAP}) gets temporary credentials from\n{scheme}://{addr}/v1/credentials, for the Secrets Manager client v2:\n\n{role}\n"
                ),
                _ => String::new(),
            };
            format!(
                "aapkit demo gateway for {inst}\n\n  endpoint         https://{endpoint}\n  AAP              {DEMO_AAP} (policy {DEMO_POLICY}: keys {aes} ({DEMO_ALIAS}), {rsa} ({DEMO_RSA_ALIAS}), secret/demo/*, from 127.0.0.1 and ::1)\n  client key       {ckid}\n  client key file  {ckf}\n  password file    {pwf}\n  CA certificate   {ca}\n\nCall it with the official Python SDK:\n\n{snippet}\n{management}{data_plane}",
                inst = s.instance_id,
                aes = s.aes_key,
                rsa = s.rsa_key,
                ckid = s.client_key_id,
                ckf = abs(&s.client_key_file),
                pwf = abs(&s.password_file),
                ca = abs(&s.ca_file),
            )
        },
    );
    if args.no_serve {
        return Ok(());
    }
    let opts = gateway::serve_options(cli, &args.serve)?;
    gateway::block_on_server(opts)
}
