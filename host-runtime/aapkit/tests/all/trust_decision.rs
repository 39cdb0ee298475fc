//! The decision is the action (issue 10 §1): a call runs on exactly the key, key version or secret
//! the enforcer allowed, under the configuration generation it was decided in.
//!
//! - `mixed_snapshot_fails_closed`: the state the server used to pass through on every reload (key
//!   ring already swapped, policy bundle not yet) is built on purpose; the gateway must answer
//!   `InternalFailure` and never run the call on the key the alias points to now.
//! - `alias_flips_under_load_never_use_an_unauthorized_key`: a real `aapkit serve` while the control
//!   plane re-points an alias hundreds of times and re-creates secret values, under concurrent
//!   Encrypt / Decrypt / GenerateDataKey / GetSecretValue load; no response may use key B or a
//!   secret under key B, which the caller has no policy for.
use crate::cli_support;
use crate::ops_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aapkit_host::runtime::{make_enforcer, EnforcerKind};
use aapkit_host::server::snapshot::{build_snapshot, Snapshot, Snapshots};
use aapkit_host::server::{Enforcer, Gateway, NoObserver, Server};
use aapkit_kms::proto;
use aapkit_store::{SecretValueInput, Store};
use prost::Message;

use cli_support::Env;
use ops_support::{new_client_key, Signer, INSTANCE};

const ALIAS: &str = "alias/flip";

struct Fixture {
    env: Env,
    /// The key the caller may use.
    a: String,
    /// The key the caller has no policy for.
    b: String,
    /// The caller: KeyUser on A; SecretUser on both secrets (s-b is under B, so it stays denied).
    user: PathBuf,
    /// An administrator (KeyUser on every key), to make B's ciphertexts.
    admin: PathBuf,
}

fn fixture() -> Fixture {
    let env = Env::bare();
    env.ok(&["init", "--instance-id", INSTANCE]);
    let a = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let b = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    env.ok(&["alias", "create", "--alias-name", ALIAS, "--key-id", &a]);
    env.ok(&["network-rule", "create", "--name", "loopback", "--source-private-ip", "127.0.0.1/32"]);
    let policy = |name: &str, permission: &str, resources: &str| {
        env.ok(&[
            "policy",
            "create",
            "--name",
            name,
            "--kms-instance",
            INSTANCE,
            "--permissions",
            &format!("RbacPermission/Template/{permission}"),
            "--resources",
            resources,
            "--network-rules",
            "loopback",
        ]);
    };
    policy("keys-a", "CryptoServiceKeyUser", &format!("key/{a}"));
    policy("secrets", "CryptoServiceSecretUser", r#"["secret/s-a","secret/s-b"]"#);
    policy("all-keys", "CryptoServiceKeyUser", "key/*");
    env.ok(&["aap", "create", "--name", "user", "--policies", r#"["keys-a","secrets"]"#]);
    env.ok(&["aap", "create", "--name", "admin", "--policies", "all-keys"]);
    for (name, key) in [("s-a", &a), ("s-b", &b)] {
        env.ok(&[
            "secret",
            "create",
            "--secret-name",
            name,
            "--encryption-key-id",
            key,
            "--secret-data",
            &format!("{name}-0"),
        ]);
    }
    let (_, user) = new_client_key(&env, "user", &[]);
    let (_, admin) = new_client_key(&env, "admin", &[]);
    Fixture { env, a, b, user, admin }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn code(&self) -> String {
        policy_core::wire::decode_error(&self.body).map(|e| e.error_code).unwrap_or_default()
    }
}

/// One signed POST / over a fresh connection; the whole response.
fn call(signer: &Signer, addr: SocketAddr, api: &str, body: &[u8], extra: &[(&str, &str)]) -> Reply {
    let mut headers = signer.headers(api, body, &addr.to_string(), false);
    headers.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let mut req = String::from("POST / HTTP/1.1\r\n");
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect();
    Reply { status, headers, body: raw[split + 4..].to_vec() }
}

fn encrypt(key_id: &str) -> Vec<u8> {
    proto::EncryptRequest { key_id: key_id.into(), plaintext: b"p".to_vec(), ..Default::default() }.encode_to_vec()
}

/// The key version a symmetric blob names (`'$' 0x00 0x02 | version id | ...`).
fn blob_version(blob: &[u8]) -> String {
    policy_core::blob::parse_symmetric(blob).unwrap().key_version_id.to_owned()
}

fn wasm_module() -> Option<PathBuf> {
    let found = aapkit_tests::filter_wasm().ok();
    if found.is_none() {
        eprintln!("wasm enforcer skipped: no aapkit_filter.wasm (scripts/build-wasm.sh or AAPKIT_FILTER_WASM)");
    }
    found
}

fn enforcers() -> Vec<(&'static str, Arc<dyn Enforcer>)> {
    let mut out: Vec<(&'static str, Arc<dyn Enforcer>)> =
        vec![("native", make_enforcer(EnforcerKind::Native, None, false).unwrap())];
    if let Some(path) = wasm_module() {
        out.push(("wasm", make_enforcer(EnforcerKind::Wasm, Some(&path), false).unwrap()));
    }
    out
}

/// Serves `snapshot` in-process on a loopback port with `enforcer`.
fn serve(rt: &tokio::runtime::Runtime, enforcer: Arc<dyn Enforcer>, snapshot: Snapshot) -> SocketAddr {
    serve_snapshots(rt, enforcer, Arc::new(Snapshots::new(snapshot)))
}

/// Serves whatever `snapshots` has in force.
fn serve_snapshots(rt: &tokio::runtime::Runtime, enforcer: Arc<dyn Enforcer>, snapshots: Arc<Snapshots>) -> SocketAddr {
    let gateway = Arc::new(Gateway {
        enforcer,
        api: Arc::new(aapkit_host::runtime::InstanceApiHandler::default()),
        snapshots,
        observer: Arc::new(NoObserver),
        clock: Arc::new(aapkit_host::runtime::unix_now),
        quota: None,
        preauth: None,
        limits: Default::default(),
    });
    let server = rt.block_on(Server::bind("127.0.0.1:0".parse().unwrap(), None, gateway)).unwrap();
    let addr = server.local_addr().unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    rt.spawn(async move {
        let _keep = _tx;
        let _ = server.run(rx).await;
    });
    addr
}

#[test]
fn mixed_snapshot_fails_closed() {
    let f = fixture();
    let store = Store::open(&f.env.data_dir(), &Default::default()).unwrap();
    let signer = Signer::load(&f.user);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (kind, enforcer) in enforcers() {
        // Generation 1: the alias names A (allowed). Generation 2: it names B (not allowed).
        store.delete_alias(ALIAS).ok();
        store.create_alias(ALIAS, &f.a).unwrap();
        let before = build_snapshot(&store, enforcer.as_ref(), INSTANCE, &mut Default::default()).unwrap();
        store.delete_alias(ALIAS).unwrap();
        store.create_alias(ALIAS, &f.b).unwrap();
        let after = build_snapshot(&store, enforcer.as_ref(), INSTANCE, &mut Default::default()).unwrap();
        assert_ne!(before.generation, after.generation);

        // Consistent snapshots: A is served, B is denied.
        let addr = serve(&rt, enforcer.clone(), clone(&before));
        let r = call(&signer, addr, "Encrypt", &encrypt(ALIAS), &[]);
        assert_eq!(r.status, 200, "{kind}: {}", r.code());
        assert_eq!(proto::EncryptResponse::decode(r.body.as_slice()).unwrap().key_id, f.a, "{kind}");
        let addr = serve(&rt, enforcer.clone(), clone(&after));
        assert_eq!(call(&signer, addr, "Encrypt", &encrypt(ALIAS), &[]).status, 403, "{kind}");

        // What old main passed through on every reload: the new key ring (alias → B) with the old
        // policy (alias → A allowed). Old main encrypted under B here; now it is InternalFailure.
        let mixed = Snapshot {
            generation: after.generation,
            ring: after.ring.clone(),
            policy: before.policy.clone(),
            sessions: None,
            ..clone(&after)
        };
        let addr = serve(&rt, enforcer.clone(), mixed);
        let r = call(&signer, addr, "Encrypt", &encrypt(ALIAS), &[]);
        assert_eq!((r.status, r.code().as_str()), (500, "InternalFailure"), "{kind}");

        // Even a snapshot mislabelled as one generation: the body's alias resolves to B in the key
        // ring, the decision said A: refused, not run on either.
        let forged = Snapshot {
            generation: before.generation,
            ring: after.ring.clone(),
            policy: before.policy.clone(),
            sessions: None,
            ..clone(&after)
        };
        let addr = serve(&rt, enforcer.clone(), forged);
        let r = call(&signer, addr, "Encrypt", &encrypt(ALIAS), &[]);
        assert_eq!((r.status, r.code().as_str()), (500, "InternalFailure"), "{kind}");
    }
}

/// A reload after a change to the access part only (a policy) reads no key and compiles over the
/// key catalogue in force (the key ring is the same object, the filter's VMs keep their
/// catalogue), and the change is enforced; a change to the catalogue (a key created) reads and
/// compiles everything again, and later access changes build over the new catalogue.
#[test]
fn an_access_change_keeps_the_catalogue_and_is_enforced() {
    let f = fixture();
    let store = Store::open(&f.env.data_dir(), &Default::default()).unwrap();
    let signer = Signer::load(&f.user);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let set_keys_a = |resources: &str| {
        f.env.ok(&["policy", "update", "--name", "keys-a", "--resources", resources]);
    };
    for (kind, enforcer) in enforcers() {
        set_keys_a(&format!("key/{}", f.a));
        let first = build_snapshot(&store, enforcer.as_ref(), INSTANCE, &mut Default::default()).unwrap();
        assert!(first.catalogue_generation.is_some(), "{kind}");
        let snapshots = Arc::new(Snapshots::new(first));
        let addr = serve_snapshots(&rt, enforcer.clone(), snapshots.clone());
        let status = || call(&signer, addr, "Encrypt", &encrypt(&f.a), &[]).status;
        assert_eq!(status(), 200, "{kind}");

        // The policy no longer names A: access part only.
        set_keys_a(&format!("key/{}", f.b));
        let before = snapshots.load();
        let next = snapshots.build_next(&store, enforcer.as_ref(), INSTANCE).unwrap();
        assert!(next.generation > before.generation, "{kind}");
        assert_eq!(next.catalogue_generation, before.catalogue_generation, "{kind}");
        assert!(Arc::ptr_eq(&next.ring, &before.ring), "{kind}: the key ring was read again");
        assert!(next.compiled.shares_catalogue_with(&before.compiled), "{kind}: the catalogue was compiled again");
        snapshots.publish(next);
        assert_eq!(status(), 403, "{kind}: the policy edit was not enforced");

        // A key created: the catalogue is read and compiled again.
        f.env.ok(&["key", "create"]);
        let before = snapshots.load();
        let next = snapshots.build_next(&store, enforcer.as_ref(), INSTANCE).unwrap();
        assert_ne!(next.catalogue_generation, before.catalogue_generation, "{kind}");
        assert!(!Arc::ptr_eq(&next.ring, &before.ring), "{kind}");
        assert!(!next.compiled.shares_catalogue_with(&before.compiled), "{kind}");
        snapshots.publish(next);
        assert_eq!(status(), 403, "{kind}");

        // A names A again, over the new catalogue.
        set_keys_a(&format!("key/{}", f.a));
        let before = snapshots.load();
        let next = snapshots.build_next(&store, enforcer.as_ref(), INSTANCE).unwrap();
        assert!(next.compiled.shares_catalogue_with(&before.compiled), "{kind}");
        snapshots.publish(next);
        assert_eq!(status(), 200, "{kind}");
    }
}

/// Work known to take microseconds is served on the async worker that received it, without the
/// work pool (issue 16); whatever may take longer still waits for a slot there (issue 10 §3). With
/// the pool's one slot held and no queue, an Encrypt on an AES key and a GetSecretValue are
/// served, while a Sign on an RSA key (a private-key operation) and an Encrypt with a body over
/// the quick size are refused `Rejected.Throttling`, and are served once the slot is free.
#[test]
fn quick_calls_skip_the_work_pool_and_slow_ones_still_take_it() {
    use aapkit_host::server::limits::RequestLimits;
    use aapkit_host::server::pool::{PoolConfig, WorkClass};
    use aapkit_host::server::ServerLimits;

    let f = fixture();
    let rsa = f.env.ok(&["key", "create", "--key-spec", "RSA_2048", "--key-usage", "SIGN/VERIFY"])["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    f.env.ok(&["policy", "update", "--name", "keys-a", "--resources", &format!(r#"["key/{}","key/{rsa}"]"#, f.a)]);
    let store = Store::open(&f.env.data_dir(), &Default::default()).unwrap();
    let signer = Signer::load(&f.user);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sign = proto::SignRequest {
        key_id: rsa.clone(),
        message: b"m".to_vec(),
        message_type: "RAW".into(),
        algorithm: "RSA_PSS_SHA_256".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let secret = proto::GetSecretValueRequest { secret_name: "s-a".into(), ..Default::default() }.encode_to_vec();
    let large = proto::EncryptRequest { key_id: f.a.clone(), plaintext: vec![7; 20 * 1024], ..Default::default() }
        .encode_to_vec();
    assert!(large.len() > aapkit_host::server::http::QUICK_BODY_BYTES);

    for (kind, enforcer) in enforcers() {
        let snapshot = build_snapshot(&store, enforcer.as_ref(), INSTANCE, &mut Default::default()).unwrap();
        let pool = PoolConfig { workers: 1, queue: 0, heavy_workers: 1, heavy_queue: 0 };
        let limits = Arc::new(RequestLimits::new(&ServerLimits { pool, ..ServerLimits::default() }));
        let gateway = Arc::new(Gateway {
            enforcer,
            api: Arc::new(aapkit_host::runtime::InstanceApiHandler::default()),
            snapshots: Arc::new(Snapshots::new(snapshot)),
            observer: Arc::new(NoObserver),
            clock: Arc::new(aapkit_host::runtime::unix_now),
            quota: None,
            preauth: None,
            limits: limits.clone(),
        });
        let server = rt.block_on(Server::bind("127.0.0.1:0".parse().unwrap(), None, gateway)).unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        rt.spawn(async move { server.run(stopped).await });

        // Hold the pool's one slot until the test says.
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let held = rt.spawn(async move {
            limits
                .pool
                .run(WorkClass::Light, move || {
                    started_tx.send(()).unwrap();
                    released.recv().ok();
                })
                .await
        });
        started.recv().unwrap();

        let status = |api: &str, body: &[u8]| {
            let r = call(&signer, addr, api, body, &[]);
            (r.status, r.code())
        };
        assert_eq!(status("Encrypt", &encrypt(&f.a)).0, 200, "{kind}: a quick call waited for the pool");
        assert_eq!(status("GetSecretValue", &secret).0, 200, "{kind}");
        let throttled = (429, "Rejected.Throttling".to_owned());
        assert_eq!(status("Sign", &sign), throttled, "{kind}: an RSA signature ran on the async worker");
        assert_eq!(status("Encrypt", &large), throttled, "{kind}: a large body was decided on the async worker");

        release.send(()).unwrap();
        rt.block_on(held).unwrap().unwrap();
        assert_eq!(status("Sign", &sign).0, 200, "{kind}");
        // Over the KMS plaintext limit: refused by the handler, on the pool.
        assert_ne!(status("Encrypt", &large), throttled, "{kind}");
        stop.send(true).ok();
    }
}

fn clone(s: &Snapshot) -> Snapshot {
    Snapshot {
        generation: s.generation,
        ring: s.ring.clone(),
        policy: s.policy.clone(),
        sessions: s.sessions.clone(),
        compiled: s.compiled.clone(),
        catalogue_generation: s.catalogue_generation,
        access_read: s.access_read,
        catalogue_read: s.catalogue_read,
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    /// Served GetSecretValue calls (s-a): the secret path was exercised, not only refused.
    secrets_ok: AtomicU64,
    refused: AtomicU64,
    violations: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }
}

fn flips_under_load(kind: &str, enforcer_args: &[&str]) {
    let f = fixture();
    let server = ops_support::Server::start_with(&f.env, enforcer_args, &[]);
    let addr = server.addr;
    let user = Arc::new(Signer::load(&f.user));
    let admin = Signer::load(&f.admin);

    // B's ciphertext, made by the administrator.
    let r = call(&admin, addr, "Encrypt", &encrypt(&f.b), &[]);
    assert_eq!(r.status, 200, "{}", server.log_text());
    let blob_b = proto::EncryptResponse::decode(r.body.as_slice()).unwrap().ciphertext_blob;
    let version_b = blob_version(&blob_b);
    let store = Store::open(&f.env.data_dir(), &Default::default()).unwrap();
    let version_a = store.describe_key(&f.a).unwrap().primary_key_version;

    let done = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (user, done, tally) = (user.clone(), done.clone(), tally.clone());
        let (a, b, blob_b, version_a, version_b) =
            (f.a.clone(), f.b.clone(), blob_b.clone(), version_a.clone(), version_b.clone());
        workers.push(std::thread::spawn(move || {
            let mut i = worker;
            while !done.load(Ordering::Relaxed) {
                i += 1;
                let (api, body) = match i % 5 {
                    0 => ("Encrypt", encrypt(ALIAS)),
                    1 => (
                        "Decrypt",
                        proto::DecryptRequest { ciphertext_blob: blob_b.clone(), ..Default::default() }.encode_to_vec(),
                    ),
                    2 => (
                        "Decrypt",
                        proto::DecryptRequest {
                            key_id: ALIAS.into(),
                            ciphertext_blob: blob_b.clone(),
                            ..Default::default()
                        }
                        .encode_to_vec(),
                    ),
                    3 => (
                        "GenerateDataKey",
                        proto::GenerateDataKeyRequest { key_id: ALIAS.into(), ..Default::default() }.encode_to_vec(),
                    ),
                    _ => {
                        let name = if i % 2 == 0 { "s-a" } else { "s-b" };
                        (
                            "GetSecretValue",
                            proto::GetSecretValueRequest { secret_name: name.into(), ..Default::default() }
                                .encode_to_vec(),
                        )
                    }
                };
                let r = call(&user, addr, api, &body, &[]);
                if r.status != 200 {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                tally.ok.fetch_add(1, Ordering::Relaxed);
                let bad = match api {
                    "Encrypt" => {
                        let resp = proto::EncryptResponse::decode(r.body.as_slice()).unwrap();
                        let reported = r.header("x-kms-migrationkeyversionid");
                        (resp.key_id != a
                            || blob_version(&resp.ciphertext_blob) != version_a
                            || reported != Some(version_a.as_str()))
                        .then(|| {
                            format!(
                                "Encrypt ran under {} ({}, reported {reported:?})",
                                resp.key_id,
                                blob_version(&resp.ciphertext_blob)
                            )
                        })
                    }
                    "Decrypt" => Some(format!("Decrypt of B's ciphertext succeeded ({version_b})")),
                    "GenerateDataKey" => {
                        let resp = proto::GenerateDataKeyResponse::decode(r.body.as_slice()).unwrap();
                        (resp.key_id != a || blob_version(&resp.ciphertext_blob) != version_a)
                            .then(|| format!("GenerateDataKey ran under {}", resp.key_id))
                    }
                    _ => {
                        tally.secrets_ok.fetch_add(1, Ordering::Relaxed);
                        let resp = proto::GetSecretValueResponse::decode(r.body.as_slice()).unwrap();
                        (resp.secret_name != "s-a" || !resp.secret_data.starts_with("s-a-"))
                            .then(|| format!("GetSecretValue returned {} under key {b}", resp.secret_name))
                    }
                };
                if let Some(bad) = bad {
                    tally.violation(bad);
                }
            }
        }));
    }

    // The control plane: hundreds of alias re-points and secret value re-creations.
    let started = Instant::now();
    let repoints = 200;
    for n in 0..repoints {
        let target = if n % 2 == 0 { &f.b } else { &f.a };
        store.delete_alias(ALIAS).unwrap();
        store.create_alias(ALIAS, target).unwrap();
        if n % 10 == 0 {
            for name in ["s-a", "s-b"] {
                let value = SecretValueInput { data: format!("{name}-{n}").into_bytes().into(), ..text_value() };
                store.put_secret_value(name, value).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let violations = tally.violations.lock().unwrap().clone();
    let (ok, refused) = (tally.ok.load(Ordering::Relaxed), tally.refused.load(Ordering::Relaxed));
    eprintln!("{kind}: {repoints} re-points in {:?}; {ok} calls served, {refused} refused", started.elapsed());
    assert!(violations.is_empty(), "{kind}: {} calls used what the caller may not:\n{violations:#?}", violations.len());
    // Not vacuous: the caller was served (A, s-a) and refused (B, s-b) along the way.
    let secrets_ok = tally.secrets_ok.load(Ordering::Relaxed);
    assert!(
        ok > 20 && refused > 20 && secrets_ok > 0,
        "{kind}: {ok} served ({secrets_ok} secrets), {refused} refused\n{}",
        server.log_text()
    );
    server.terminate();
}

fn text_value() -> SecretValueInput {
    SecretValueInput {
        data: Vec::new().into(),
        data_type: aapkit_kms::keyring::SecretDataType::Text,
        version_id: None,
        version_stages: Vec::new(),
    }
}

#[test]
fn alias_flips_under_load_never_use_an_unauthorized_key() {
    flips_under_load("native", &["--enforcer", "native"]);
}

/// The same with the filter in wasmtime deciding, the default enforcer (skipped without the filter
/// module; `scripts/test.sh` builds it first). About 15 s on the 2-core CI machine.
#[test]
fn alias_flips_under_load_never_use_an_unauthorized_key_wasm() {
    if let Some(wasm) = wasm_module() {
        flips_under_load("wasm", &["--enforcer", "wasm", "--filter-wasm", wasm.to_str().unwrap()]);
    }
}

/// The fixture's gateway assembled (native enforcer, no listener), with its reload loop running
/// and counting into `metrics` until `stop` is sent true.
struct Reloading {
    a: Arc<aapkit_host::runtime::Assembled>,
    metrics: Arc<aapkit_host::ops::Metrics>,
    stop: tokio::sync::watch::Sender<bool>,
    _rt: tokio::runtime::Runtime,
}

fn reloading(f: &Fixture) -> Reloading {
    use aapkit_host::runtime::{assemble, reload_loop, ServeOptions};
    let opts = ServeOptions {
        data_dir: f.env.data_dir(),
        store: aapkit_store::StoreLocation::Sqlite,
        master_key: Default::default(),
        wasm_perf_map: false,
        listen: "127.0.0.1:0".parse().unwrap(),
        plain_http: true,
        enforcer: EnforcerKind::Native,
        filter_wasm: None,
        instance_id: INSTANCE.into(),
        tls_cert: PathBuf::new(),
        tls_key: PathBuf::new(),
        ops: aapkit_host::ops::OpsOptions::default(),
        limits: Default::default(),
        openapi: None,
    };
    let a = Arc::new(assemble(&opts, Arc::new(NoObserver), Arc::new(aapkit_host::runtime::unix_now)).unwrap());
    let metrics = Arc::new(aapkit_host::ops::Metrics::new());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    rt.spawn(reload_loop(a.clone(), INSTANCE.into(), Some(metrics.clone()), rx));
    Reloading { a, metrics, stop, _rt: rt }
}

/// Each reload is counted by what it read (`aapkit_config_reloads_total`): a change made through the
/// store's API patches the access part from the change log (the catalogue kept), a key patches
/// the catalogue too; a generation moved outside the API leaves the log a gap, so the access part
/// is read whole (the catalogue, unchanged, kept).
#[test]
fn reloads_are_counted_by_what_they_read() {
    let f = fixture();
    let Reloading { a, metrics, stop: tx, _rt } = reloading(&f);
    let count = |access: &str, catalogue: &str| {
        let text = metrics.render(None, &[], 0);
        let series = format!("aapkit_config_reloads_total{{access=\"{access}\",catalogue=\"{catalogue}\"}} ");
        let n = text.lines().find_map(|l| l.strip_prefix(series.as_str())).map(str::to_owned);
        n.unwrap_or_else(|| panic!("no {series}in {text}"))
    };
    // Waits for the reload of the store's generation to be counted under `series`.
    let counted = |what: &str, access: &str, catalogue: &str, n: &str| {
        let generation = a.store.generation().unwrap();
        let waited = Instant::now();
        while a.snapshots.generation() != generation || count(access, catalogue) != n {
            assert!(waited.elapsed() < Duration::from_secs(10), "{what}: not reloaded and counted");
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    f.env.ok(&["network-rule", "create", "--name", "more", "--source-private-ip", "10.0.0.0/8"]);
    counted("a network rule", "patched", "kept", "1");
    f.env.ok(&["key", "create"]);
    counted("a key", "patched", "patched", "1");
    let db = rusqlite::Connection::open(f.env.data_dir().join(aapkit_store::DB_FILE)).unwrap();
    db.execute("UPDATE meta SET value = value + 1 WHERE name = 'generation'", []).unwrap();
    counted("a generation moved outside the API", "whole", "kept", "1");
    // Nothing else was counted.
    let others = ["whole", "patched"].map(|c| count("whole", c));
    assert_eq!([count("patched", "kept"), count("patched", "patched"), count("patched", "whole")], ["1", "1", "0"]);
    assert_eq!(others, ["0", "0"]);
    let _ = tx.send(true);
}

/// A reload that fails keeps the previous configuration, is counted and logged, and is retried
/// (with backoff) until it succeeds, even when the store's generation does not move again. Old main
/// marked the generation as seen on failure and never tried again, so a revocation could stay
/// unapplied.
#[test]
fn a_failed_reload_is_retried_until_it_succeeds() {
    let f = fixture();
    let Reloading { a, metrics, stop: tx, _rt } = reloading(&f);
    let first = a.snapshots.generation();

    // A revocation (the user's client keys deleted) committed together with a row the exporter
    // refuses: the reload of this generation fails.
    let db = rusqlite::Connection::open(f.env.data_dir().join(aapkit_store::DB_FILE)).unwrap();
    db.execute_batch(
        "BEGIN; UPDATE client_keys SET algorithm = 'RSA_1024' WHERE aap = 'admin';
         DELETE FROM client_keys WHERE aap = 'user';
         UPDATE meta SET value = value + 1 WHERE name = 'generation'; COMMIT;",
    )
    .unwrap();
    let broken = first + 1;
    let waited = Instant::now();
    while metrics.config_reload_failures.get() < 2 {
        assert!(waited.elapsed() < Duration::from_secs(10), "the failed reload was not retried");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(a.snapshots.generation(), first, "a failed reload must keep the previous snapshot");
    assert_eq!(metrics.config_generation.get(), first);

    // The fault clears without a new generation: the retry applies the revocation.
    db.execute("UPDATE client_keys SET algorithm = 'RSA_2048' WHERE aap = 'admin'", []).unwrap();
    let waited = Instant::now();
    while metrics.config_generation.get() != broken {
        assert!(waited.elapsed() < Duration::from_secs(15), "the reload was never retried after the fault cleared");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(a.snapshots.generation(), broken);
    let text = metrics.render(None, &[], 0);
    assert!(text.contains("aapkit_config_reload_failures_total "), "{text}");
    assert!(text.contains(&format!("aapkit_config_generation {broken}")), "{text}");
    let _ = tx.send(true);
}
