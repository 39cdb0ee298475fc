//! The store engines compared in one run (BENCHMARKS.md, "Scale-out"): SQLite (the embedded
//! default) against PostgreSQL (a throwaway cluster this bench starts, `fsync` on).
//!
//! 1. Audit write throughput: rows per second through `AuditWriter`, in the audit sink's batches.
//! 2. Snapshot reload: reading and compiling a configuration of 10,000 keys and 1,000 client keys
//!    (`build_snapshot`, what every reload does).
//! 3. Change to enforced across gateways: two `aapkit serve` on PostgreSQL; a write committed by a
//!    third process, then the time until both gateways publish its generation (p50/p99).
//! 4. Encrypt throughput of one gateway on each engine (`aapkit loadgen`, alternating rounds):
//!    the request path must not touch the database.
//!
//! `cargo bench -p aapkit --bench cluster` (about 5 minutes); `AAPKIT_BENCH_QUICK=1` for a smoke run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aapkit_store::{AuditCall, MasterKey, NewClientKey, Store, StoreLocation};
use aapkit_testpg::PgCluster;

const BIN: &str = env!("CARGO_BIN_EXE_aapkit");
const INSTANCE: &str = "kst-bench0000000000001";
const PASSWORD: &str = "Bench-passw0rd";

fn quick() -> bool {
    std::env::var_os("AAPKIT_BENCH_QUICK").is_some()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn audit_row(i: usize) -> AuditCall {
    AuditCall {
        time: 1_700_000_000 + i as i64,
        request_id: format!("bench-{i:08}"),
        access_key_id: "KAAP.bench".into(),
        aap: "app".into(),
        api: "Encrypt".into(),
        resource: "key/key-bench".into(),
        source_ip: "10.0.0.1".into(),
        allowed: true,
        http_status: 200,
        error_code: String::new(),
        latency_us: 120,
        policy: "p1".into(),
        detail: String::new(),
    }
}

fn audit_throughput(dir: &Path, location: &StoreLocation) -> f64 {
    let master = MasterKey::generate().unwrap();
    drop(Store::open_at_with_key(dir, location, &master).unwrap());
    let mut writer = aapkit_store::AuditWriter::open_at(dir, location).unwrap();
    let rows: Vec<AuditCall> = (0..if quick() { 2_048 } else { 51_200 }).map(audit_row).collect();
    let t0 = Instant::now();
    for batch in rows.chunks(256) {
        writer.insert_calls(batch).unwrap();
    }
    rows.len() as f64 / t0.elapsed().as_secs_f64()
}

/// 10,000 keys (1,000 quick), 334 AAPs of 3 client keys each, one policy over all keys.
fn populate(store: &Store, keys: usize, client_keys: usize) {
    for _ in 0..keys {
        store.create_key(None, "").unwrap();
    }
    store
        .create_network_rule(&aapkit_store::NetworkRuleInput {
            name: "r1".into(),
            network_type: "Private".into(),
            source_private_ip: vec!["10.0.0.0/8".into()],
            description: String::new(),
        })
        .unwrap();
    store
        .create_policy(&aapkit_store::PolicyInput {
            name: "p1".into(),
            kms_instance: INSTANCE.into(),
            permissions: vec!["RbacPermission/Template/CryptoServiceKeyUser".into()],
            resources: vec!["key/*".into()],
            network_rules: vec!["r1".into()],
            description: String::new(),
        })
        .unwrap();
    let now = 1_700_000_000;
    let create_aap = |n: usize| {
        store
            .create_aap(&aapkit_store::AapInput {
                name: format!("app-{n}"),
                authentication_method: "ClientKey".into(),
                policies: vec!["p1".into()],
                description: String::new(),
            })
            .unwrap();
    };
    create_aap(0);
    let template = store.create_client_key("app-0", PASSWORD, now, now + 365 * 86_400).unwrap().info;
    let mut made = 1;
    let mut aap = 0;
    while made < client_keys {
        if made % 3 == 0 {
            aap += 1;
            create_aap(aap);
        }
        store
            .insert_client_key(&NewClientKey {
                client_key_id: format!("KAAP.{}", uuid::Uuid::new_v4()),
                aap_name: format!("app-{aap}"),
                key_algorithm: "RSA_2048".into(),
                public_key_data: template.public_key_data.clone(),
                not_before: now,
                not_after: now + 365 * 86_400,
            })
            .unwrap();
        made += 1;
    }
}

fn reload_ms(dir: &Path, location: &StoreLocation, master: &MasterKey) -> f64 {
    let store = Store::open_at_with_key(dir, location, master).unwrap();
    let enforcer = aapkit_host::server::native::NativeEnforcer::new();
    let mut times = Vec::new();
    for _ in 0..if quick() { 1 } else { 5 } {
        // A fresh handle each round: nothing cached.
        let store = Store::open_at_with_key(dir, location, master).unwrap();
        let t0 = Instant::now();
        let snapshot =
            aapkit_host::server::snapshot::build_snapshot(&store, &enforcer, INSTANCE, &mut Default::default())
                .unwrap();
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        assert!(snapshot.generation > 0);
    }
    drop(store);
    median(&mut times)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Gateway {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(dir: &Path, store: &str) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(dir).env("AAPKIT_STORE", store).env_remove("AAPKIT_MASTER_KEY");
    c
}

fn run_json(c: &mut Command) -> serde_json::Value {
    let out = c.arg("--json").output().unwrap();
    assert!(out.status.success(), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn serve(dir: &Path, store: &str) -> Gateway {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = cli(dir, store)
        .args(["serve", "--plain-http", "--enforcer", "native", "--no-openapi"])
        .args(["--listen", &addr.to_string(), "--admin-listen", &admin.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() || TcpStream::connect(admin).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Gateway { child, addr, admin }
}

fn published_generation(admin: SocketAddr) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(admin) else { return 0 };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines()
        .find_map(|l| l.strip_prefix("aapkit_config_generation "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A deployment: `init`, a key, a policy and a client key, on `store`.
fn deployment(root: &Path, name: &str, store: &str) -> (PathBuf, String, PathBuf, PathBuf) {
    let dir = root.join(name);
    run_json(cli(&dir, store).args(["init", "--instance-id", INSTANCE]));
    let key = run_json(cli(&dir, store).args(["key", "create"]))["KeyId"].as_str().unwrap().to_owned();
    run_json(cli(&dir, store).args(["network-rule", "create", "--name", "lo", "--source-private-ip", "127.0.0.1/32"]));
    run_json(cli(&dir, store).args([
        "policy",
        "create",
        "--name",
        "p",
        "--kms-instance",
        INSTANCE,
        "--permissions",
        "RbacPermission/Template/CryptoServiceKeyUser",
        "--resources",
        "key/*",
        "--network-rules",
        "lo",
    ]));
    run_json(cli(&dir, store).args(["aap", "create", "--name", "app", "--policies", "p"]));
    let pw = root.join(format!("{name}-password"));
    std::fs::write(&pw, PASSWORD).unwrap();
    let key_file = root.join(format!("{name}-clientKey.json"));
    run_json(
        cli(&dir, store)
            .args(["client-key", "create", "--aap", "app", "--password-file"])
            .arg(&pw)
            .arg("--output")
            .arg(&key_file),
    );
    (dir, key, key_file, pw)
}

fn encrypt_rate(gw: &Gateway, dir: &Path, store: &str, key: &str, key_file: &Path, pw: &Path, seconds: u64) -> f64 {
    let report = run_json(
        cli(dir, store)
            .args(["loadgen", "--plain-http", "--target", &gw.addr.to_string(), "--client-key-file"])
            .arg(key_file)
            .arg("--password-file")
            .arg(pw)
            .args(["--key-id", key, "--workload", "encrypt", "--concurrency", "8", "--seconds", &seconds.to_string()]),
    );
    report["RequestsPerSecond"].as_f64().unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let pg = PgCluster::start_durable().unwrap();
    let mut db = 0;
    let mut new_db = || {
        db += 1;
        pg.create_database(&format!("bench{db}")).unwrap()
    };

    // 1. Audit writes.
    let sqlite_dir = root.path().join("audit-sqlite");
    let sqlite_rate = audit_throughput(&sqlite_dir, &StoreLocation::Sqlite);
    let pg_rate = audit_throughput(&root.path().join("audit-pg"), &StoreLocation::Postgres(new_db()));
    println!(
        "audit writes (batches of 256, durable): SQLite {sqlite_rate:.0} rows/s, PostgreSQL {pg_rate:.0} rows/s (PostgreSQL/SQLite {:.2})",
        pg_rate / sqlite_rate
    );

    // 2. Reload of 10k keys / 1k client keys.
    let (keys, client_keys) = if quick() { (200, 30) } else { (10_000, 1_000) };
    let master = MasterKey::generate().unwrap();
    let mut reload = Vec::new();
    for (name, location) in [("SQLite", StoreLocation::Sqlite), ("PostgreSQL", StoreLocation::Postgres(new_db()))] {
        let dir = root.path().join(format!("reload-{name}"));
        let t0 = Instant::now();
        populate(&Store::open_at_with_key(&dir, &location, &master).unwrap(), keys, client_keys);
        eprintln!("populated {name} in {:.1} s", t0.elapsed().as_secs_f64());
        let ms = reload_ms(&dir, &location, &master);
        println!("snapshot reload, {keys} keys / {client_keys} client keys: {name} {ms:.0} ms");
        reload.push(ms);
    }
    println!("snapshot reload PostgreSQL/SQLite: {:.2}", reload[1] / reload[0]);

    // 3. Change to enforced across two gateways.
    let url = new_db();
    let (dir_a, _, _, _) = deployment(root.path(), "gw-a", &url);
    let dir_b = root.path().join("gw-b");
    assert!(Command::new("cp").arg("-a").arg(&dir_a).arg(&dir_b).status().unwrap().success());
    let a = serve(&dir_a, &url);
    let b = serve(&dir_b, &url);
    let writer = Store::open_at(&dir_a, &StoreLocation::Postgres(url.clone()), &Default::default()).unwrap();
    let mut lags = Vec::new();
    for i in 0..if quick() { 5 } else { 100 } {
        let rule = aapkit_store::NetworkRuleInput {
            name: format!("change-{i}"),
            network_type: "Private".into(),
            source_private_ip: vec!["10.1.0.0/16".into()],
            description: String::new(),
        };
        writer.create_network_rule(&rule).unwrap();
        let committed = Instant::now();
        let g = writer.generation().unwrap();
        let deadline = committed + Duration::from_secs(5);
        while published_generation(a.admin) < g || published_generation(b.admin) < g {
            assert!(Instant::now() < deadline, "generation {g} not published in 5 s");
            std::thread::sleep(Duration::from_micros(500));
        }
        lags.push(committed.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "change to enforced on both gateways: p50 {:.1} ms, p99 {:.1} ms ({} changes)",
        percentile(&mut lags, 0.5),
        percentile(&mut lags, 0.99),
        lags.len()
    );
    drop((a, b));

    // 4. Encrypt throughput, one gateway per engine, alternating rounds.
    let seconds = if quick() { 1 } else { 5 };
    let pg_url = new_db();
    let on_pg = deployment(root.path(), "enc-pg", &pg_url);
    let on_sqlite = deployment(root.path(), "enc-sqlite", "sqlite");
    let mut ratios = Vec::new();
    for round in 0..if quick() { 1 } else { 3 } {
        let mut rates = Vec::new();
        for (store, (dir, key, key_file, pw)) in [(pg_url.as_str(), &on_pg), ("sqlite", &on_sqlite)] {
            let gw = serve(dir, store);
            rates.push(encrypt_rate(&gw, dir, store, key, key_file, pw, seconds));
        }
        println!("round {round}: Encrypt PostgreSQL {:.0}/s, SQLite {:.0}/s", rates[0], rates[1]);
        ratios.push(rates[0] / rates[1]);
    }
    println!("Encrypt throughput PostgreSQL/SQLite, median of rounds: {:.3}", median(&mut ratios));
}
