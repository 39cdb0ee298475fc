//! `aapkit loadgen`: a load generator that signs requests exactly as the official SDKs do and measures
//! the gateway over HTTPS keep-alive.
//!
//! Client-side RSA signing costs about 1 ms of CPU per request, so requests are signed before the
//! clock starts: a pool of pre-signed requests is replayed (a signature stays valid for the date
//! window, 15 minutes). That measures the gateway, not the generator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use prost::Message;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_rustls::{rustls, TlsConnector};

use aapkit_kms::proto;

/// Which call the generator repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Encrypt 32 bytes with the given key (AES-256-GCM for a symmetric key).
    Encrypt,
    /// Sign a SHA-256 digest with the given key (RSA_PKCS1_SHA_256 on an RSA key).
    Sign,
    /// GetSecretValue of the secret named by --key-id, through the Instance API.
    GetSecretValue,
    /// GetSecretValue of the secret named by --key-id through the shared gateway (the KMS
    /// endpoint: RPC v1 signed SHA256withRSA, as the Secrets Manager client signs). Each request
    /// carries its own nonce and is sent once (the gateway refuses a replay), so the run ends when
    /// the --pool requests are spent, or at --seconds.
    SharedGetSecretValue,
}

impl Workload {
    /// Whether each pre-signed request may be sent only once.
    fn single_use(self) -> bool {
        matches!(self, Workload::SharedGetSecretValue)
    }
}

#[derive(Clone, Debug, clap::Args)]
pub struct LoadgenArgs {
    /// Gateway address, e.g. 127.0.0.1:8443.
    #[arg(long)]
    pub target: SocketAddr,
    /// CA certificate that signed the gateway's certificate (omit with --plain-http).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Talk plain HTTP (only if the gateway was started with --plain-http).
    #[arg(long)]
    pub plain_http: bool,
    /// ClientKeyContent file written by `aapkit client-key create`.
    #[arg(long)]
    pub client_key_file: PathBuf,
    /// File holding the client key's password.
    #[arg(long)]
    pub password_file: PathBuf,
    /// Key id (or alias) to use; the secret name for the GetSecretValue workloads.
    #[arg(long)]
    pub key_id: String,
    #[arg(long, value_enum, default_value = "encrypt")]
    pub workload: Workload,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Measured seconds (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Distinct pre-signed requests to replay.
    #[arg(long, default_value_t = 256)]
    pub pool: usize,
    /// Extra connections that loop GenerateDataKeyPair (with --key-id) beside the measured
    /// workload, unmeasured: does slow work starve fast work? (BENCHMARKS.md, "Slow work").
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub background_key_pairs: usize,
    /// The KeyPairSpec of the background generations.
    #[arg(long, default_value = "RSA_3072", value_name = "SPEC")]
    pub background_key_pair_spec: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadgenReport {
    pub workload: String,
    pub concurrency: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub requests_per_second: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Background key-pair generations completed (and failed) during the measured time.
    pub background_requests: u64,
    pub background_errors: u64,
}

struct SignedRequest {
    /// `/` for the Instance API; `/?<signed query>` for an RPC request.
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// A shared-gateway GetSecretValue as the Secrets Manager client sends it: every parameter in the
/// query, RPC v1 StringToSign, SHA256withRSA.
fn sign_rpc_request(
    key: &aws_lc_rs::rsa::KeyPair,
    client_key_id: &str,
    secret_name: &str,
    timestamp: &str,
    nonce: &str,
    host: &str,
) -> Result<SignedRequest, LoadgenError> {
    use base64::Engine as _;
    use policy_core::openapi::{percent_encode, rpc_v1_string_to_sign};
    let mut params = vec![
        ("AccessKeyId", client_key_id),
        ("Action", "GetSecretValue"),
        ("FetchExtendedConfig", "True"),
        ("Format", "JSON"),
        ("RegionId", "cn-hangzhou"),
        ("SecretName", secret_name),
        ("SignatureMethod", "SHA256withRSA"),
        ("SignatureNonce", nonce),
        ("SignatureType", "PRIVATEKEY"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", timestamp),
        ("Version", "2016-01-20"),
        ("VersionStage", "ACSCurrent"),
    ];
    let sts = rpc_v1_string_to_sign("POST", &params);
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, sts.as_bytes(), &mut sig)
        .map_err(|_| LoadgenError::Sign)?;
    let signature = base64::engine::general_purpose::STANDARD.encode(sig);
    params.push(("Signature", &signature));
    let query: Vec<String> =
        params.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
    Ok(SignedRequest {
        path: format!("/?{}", query.join("&")),
        headers: vec![("host".into(), host.into()), ("user-agent".into(), "aapkit-loadgen".into())],
        body: Bytes::new(),
    })
}

/// Signs like the SDK: the string-to-sign from policy-core, RSASSA-PKCS1-v1_5 SHA-256, `Bearer <b64>`.
fn sign_request(
    key: &aws_lc_rs::rsa::KeyPair,
    client_key_id: &str,
    api: &str,
    body: Vec<u8>,
    date: &str,
    host: &str,
) -> Result<SignedRequest, LoadgenError> {
    use base64::Engine as _;
    let sha = hex::encode_upper(Sha256::digest(&body));
    let mut headers: Vec<(String, String)> = vec![
        ("accept".into(), "application/x-protobuf".into()),
        ("host".into(), host.into()),
        ("date".into(), date.into()),
        ("user-agent".into(), "aapkit-loadgen".into()),
        ("x-kms-apiversion".into(), "dkms-gcs-0.2".into()),
        ("x-kms-apiname".into(), api.into()),
        ("x-kms-signaturemethod".into(), "RSA_PKCS1_SHA_256".into()),
        ("x-kms-acccesskeyid".into(), client_key_id.into()),
        ("content-type".into(), "application/x-protobuf".into()),
        ("content-length".into(), body.len().to_string()),
        ("content-sha256".into(), sha),
    ];
    let view_headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sts = policy_core::string_to_sign(&policy_core::HttpRequestView {
        method: "POST",
        headers: &view_headers,
        body: &body,
    });
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, sts.as_bytes(), &mut sig)
        .map_err(|_| LoadgenError::Sign)?;
    headers.push(("authorization".into(), format!("Bearer {}", base64::engine::general_purpose::STANDARD.encode(sig))));
    Ok(SignedRequest { path: "/".into(), headers, body: Bytes::from(body) })
}

fn workload_body(w: Workload, key_id: &str, i: usize) -> (&'static str, Vec<u8>) {
    match w {
        Workload::Encrypt => {
            let mut plaintext = [0u8; 32];
            plaintext[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let req =
                proto::EncryptRequest { key_id: key_id.into(), plaintext: plaintext.to_vec(), ..Default::default() };
            ("Encrypt", req.encode_to_vec())
        }
        Workload::Sign => {
            let digest = Sha256::digest((i as u64).to_le_bytes()).to_vec();
            let req = proto::SignRequest {
                key_id: key_id.into(),
                algorithm: "RSA_PKCS1_SHA_256".into(),
                message: digest,
                message_type: "DIGEST".into(),
                ..Default::default()
            };
            ("Sign", req.encode_to_vec())
        }
        Workload::GetSecretValue | Workload::SharedGetSecretValue => {
            let req = proto::GetSecretValueRequest { secret_name: key_id.into(), ..Default::default() };
            ("GetSecretValue", req.encode_to_vec())
        }
    }
}

/// Why the load generator could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    #[error("--concurrency and --pool must be at least 1")]
    NoWorkers,
    #[error("--ca is required for HTTPS (or pass --plain-http)")]
    NoCa,
    #[error("reading {}: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("loading the client key: {0}")]
    ClientKey(#[from] aapkit_pki::PkiError),
    #[error("client key is not RSA: {0}")]
    NotRsa(aws_lc_rs::error::KeyRejected),
    #[error("RSA signing failed")]
    Sign,
    #[error("reading the CA certificate {}: {source}", path.display())]
    CaRead { path: std::path::PathBuf, source: rustls_pki_types::pem::Error },
    #[error("the CA certificate {}: {source}", path.display())]
    CaInvalid { path: std::path::PathBuf, source: rustls::Error },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("connecting to {target}: {source}")]
    Connect { target: SocketAddr, source: std::io::Error },
    #[error("TLS handshake with {target}: {source}")]
    Handshake { target: SocketAddr, source: std::io::Error },
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("building a request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("a worker failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

pub async fn run(args: &LoadgenArgs) -> Result<LoadgenReport, LoadgenError> {
    if args.concurrency == 0 || args.pool == 0 {
        return Err(LoadgenError::NoWorkers);
    }
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|source| LoadgenError::Read { path: path.to_owned(), source })
    };
    let content = read(&args.client_key_file)?;
    let password = read(&args.password_file)?;
    let (client_key_id, pkcs8) =
        aapkit_pki::client_key::load_client_key(&content, password.trim_end_matches(['\n', '\r']))?;
    let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).map_err(LoadgenError::NotRsa)?;

    let date = httpdate_now();
    let host = args.target.to_string();
    let pool = if args.workload.single_use() {
        // One RSA signature per request (about 1 ms): made on every core before the clock starts.
        let timestamp = policy_core::format_iso8601(time::OffsetDateTime::now_utc().unix_timestamp());
        let threads = std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(2);
        let per = args.pool.div_ceil(threads);
        let parts: Vec<Result<Vec<SignedRequest>, LoadgenError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (key, id, secret, ts, host) = (&key, &client_key_id, &args.key_id, &timestamp, &host);
                    scope.spawn(move || {
                        (t * per..((t + 1) * per).min(args.pool))
                            .map(|i| sign_rpc_request(key, id, secret, ts, &format!("{:032x}", (i as u128) + 1), host))
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(Err(LoadgenError::Sign))).collect()
        });
        let mut pool = Vec::with_capacity(args.pool);
        for part in parts {
            pool.extend(part?);
        }
        pool
    } else {
        let mut pool = Vec::with_capacity(args.pool);
        for i in 0..args.pool {
            let (api, body) = workload_body(args.workload, &args.key_id, i);
            pool.push(sign_request(&key, &client_key_id, api, body, &date, &host)?);
        }
        pool
    };
    let pool = Arc::new(pool);
    // Single-use requests are taken in turn by all workers; the others are replayed per worker.
    let next = args.workload.single_use().then(|| Arc::new(std::sync::atomic::AtomicUsize::new(0)));
    let mut background_pool = Vec::new();
    if args.background_key_pairs > 0 {
        for i in 0..16 {
            let req = proto::GenerateDataKeyPairRequest {
                key_id: args.key_id.clone(),
                key_pair_spec: args.background_key_pair_spec.clone(),
                key_format: "PEM".into(),
                aad: (i as u64).to_le_bytes().to_vec(),
                ..Default::default()
            };
            background_pool.push(sign_request(
                &key,
                &client_key_id,
                "GenerateDataKeyPair",
                req.encode_to_vec(),
                &date,
                &host,
            )?);
        }
    }
    let background_pool = Arc::new(background_pool);

    let tls = match (&args.ca, args.plain_http) {
        (_, true) => None,
        (Some(ca), false) => Some(client_tls(ca)?),
        (None, false) => return Err(LoadgenError::NoCa),
    };

    let warmup = Duration::from_secs(1);
    let measure = Duration::from_secs(args.seconds.max(1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let pool = pool.clone();
        let tls = tls.clone();
        let target = args.target;
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            worker_loop(worker, target, tls, pool, next, start + warmup, start + warmup + measure).await
        }));
    }
    let mut background = Vec::new();
    for worker in 0..args.background_key_pairs {
        let pool = background_pool.clone();
        let tls = tls.clone();
        let target = args.target;
        background.push(tokio::spawn(async move {
            worker_loop(worker, target, tls, pool, None, start + warmup, start + warmup + measure).await
        }));
    }
    let (mut background_requests, mut background_errors) = (0u64, 0u64);
    for t in background {
        let (lat, err, _) = t.await??;
        background_requests += lat.len() as u64;
        background_errors += err;
    }
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut last_done = start + warmup;
    for t in tasks {
        let (lat, err, done) = t.await??;
        latencies.extend(lat);
        errors += err;
        last_done = last_done.max(done);
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> u64 {
        if latencies.is_empty() {
            return 0;
        }
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(idx).copied().unwrap_or(0)
    };
    // A single-use pool may run out before --seconds: the rate is over the time actually measured.
    let secs = if args.workload.single_use() {
        last_done.saturating_duration_since(start + warmup).as_secs_f64().max(1e-3)
    } else {
        measure.as_secs_f64()
    };
    Ok(LoadgenReport {
        workload: format!("{:?}", args.workload),
        concurrency: args.concurrency,
        seconds: secs,
        requests: latencies.len() as u64,
        errors,
        requests_per_second: latencies.len() as f64 / secs,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        max_us: latencies.last().copied().unwrap_or(0),
        background_requests,
        background_errors,
    })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(
    target: SocketAddr,
    tls: &Option<(TlsConnector, ServerName<'static>)>,
) -> Result<Sender, LoadgenError> {
    let tcp =
        tokio::net::TcpStream::connect(target).await.map_err(|source| LoadgenError::Connect { target, source })?;
    tcp.set_nodelay(true).map_err(|source| LoadgenError::Connect { target, source })?;
    match tls {
        Some((connector, name)) => {
            let stream = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(|source| LoadgenError::Handshake { target, source })?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            Ok(sender)
        }
        None => {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            Ok(sender)
        }
    }
}

async fn worker_loop(
    worker: usize,
    target: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    pool: Arc<Vec<SignedRequest>>,
    next: Option<Arc<std::sync::atomic::AtomicUsize>>,
    measure_from: Instant,
    until: Instant,
) -> Result<(Vec<u64>, u64, Instant), LoadgenError> {
    let mut sender = connect(target, &tls).await?;
    let mut latencies = Vec::with_capacity(16 * 1024);
    let mut errors = 0u64;
    let mut i = worker;
    let mut done = measure_from;
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        let signed = match &next {
            Some(n) => pool.get(n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
            None => pool.get(i % pool.len()),
        };
        let Some(signed) = signed else { break };
        i += 1;
        let mut builder = hyper::Request::post(signed.path.as_str());
        for (k, v) in &signed.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let req = builder.body(Full::new(signed.body.clone()))?;
        let t0 = Instant::now();
        let ok = match sender.send_request(req).await {
            Ok(resp) => {
                let ok = resp.status().is_success();
                let _ = resp.into_body().collect().await;
                ok
            }
            Err(_) => {
                sender = connect(target, &tls).await?;
                false
            }
        };
        if t0 >= measure_from {
            if ok {
                latencies.push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
            } else {
                errors += 1;
            }
            done = Instant::now();
        }
    }
    Ok((latencies, errors, done))
}

fn client_tls(ca: &std::path::Path) -> Result<(TlsConnector, ServerName<'static>), LoadgenError> {
    let unreadable = |source| LoadgenError::CaRead { path: ca.to_owned(), source };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(unreadable)? {
        roots
            .add(cert.map_err(unreadable)?)
            .map_err(|source| LoadgenError::CaInvalid { path: ca.to_owned(), source })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    Ok((TlsConnector::from(Arc::new(config)), name))
}

/// The current time as an HTTP date (the generator is a client: it may read the clock).
fn httpdate_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    now.format(&fmt).unwrap_or_default()
}
