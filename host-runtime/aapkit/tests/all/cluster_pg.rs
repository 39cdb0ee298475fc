//! Several `aapkit serve` gateways on one PostgreSQL (a throwaway cluster each test starts):
//! configuration reaching every gateway, the shared audit log, the cluster QPS quota, serving
//! through an outage of the database, and `store migrate` from a single-node data directory.

use std::time::{Duration, Instant};

use aapkit_testpg::PgCluster;

use crate::cli_support::{s, Env};
use crate::ops_support::{audit_rows, encrypt_body, new_client_key, setup, setup_in, Server, Signer, PASSWORD};

fn cluster() -> (PgCluster, String) {
    let pg = PgCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let url = pg.create_database("aapkit").unwrap();
    (pg, url)
}

/// Calls Encrypt until `want(status)` holds; how long that took. Fails after `limit`.
fn until_status(signer: &Signer, server: &Server, key: &str, want: impl Fn(u16) -> bool, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let status = signer.call(server.addr, "Encrypt", &encrypt_body(key)).status;
        if want(status) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < limit, "still {status} after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn gateways_on_one_postgres_share_configuration_and_the_audit_log() {
    let (_pg, url) = cluster();
    let a = setup_in(Env::bare_on(&url));
    let b_env = a.env.copy();
    let c_env = a.env.copy();
    let ga = Server::start(&a.env, &[]);
    let gb = Server::start(&b_env, &[]);
    let gc = Server::start(&c_env, &[]);
    let signer = Signer::load(&a.key_file);
    for g in [&ga, &gb, &gc] {
        assert_eq!(signer.call(g.addr, "Encrypt", &encrypt_body(&a.aes)).status, 200, "{}", g.log_text());
    }

    // A client key made through A's CLI works on B and C within one second.
    let (new_id, new_file) = new_client_key(&a.env, "app", &[]);
    let fresh = Signer::load(&new_file);
    for g in [&gb, &gc] {
        let took = until_status(&fresh, g, &a.aes, |s| s == 200, Duration::from_secs(1));
        eprintln!("client key created on A enforced on {} after {took:?}", g.addr);
    }
    // Deleted through C's CLI: refused on A and B within one second.
    c_env.ok(&["client-key", "delete", "--client-key-id", &new_id, "--force"]);
    for g in [&ga, &gb] {
        let took = until_status(&fresh, g, &a.aes, |s| s != 200, Duration::from_secs(1));
        eprintln!("client key deleted on C refused on {} after {took:?}", g.addr);
    }
    // A policy change through B narrows A: the key leaves the policy's resources.
    b_env.ok(&["policy", "update", "--name", "p1", "--resources", &format!("key/{}", a.other)]);
    until_status(&signer, &ga, &a.aes, |s| s == 403, Duration::from_secs(1));

    // Every gateway's audit rows land in the one table (SIGTERM commits them).
    for g in [ga, gb, gc] {
        g.terminate();
    }
    let rows = audit_rows(&a.env, &["--client-key", &a.client_key_id, "--decision", "allow"]);
    assert!(rows.len() >= 3, "one allowed call per gateway at least: {rows:?}");
    let denied = audit_rows(&b_env, &["--client-key", &a.client_key_id, "--decision", "deny"]);
    assert!(!denied.is_empty(), "the refusal after the policy change is audited");
}

#[test]
fn the_qps_quota_holds_across_two_gateways() {
    const QPS: f64 = 150.0;
    let (_pg, url) = cluster();
    let a = setup_in(Env::bare_on(&url));
    let b_env = a.env.copy();
    let flags = ["--qps-limit", "Symmetric=150"];
    let ga = Server::start(&a.env, &flags);
    let gb = Server::start(&b_env, &flags);
    let password = a.env.write("loadgen-password.txt", PASSWORD.as_bytes());
    let seconds = "6";
    let loadgen = |env: &Env, server: &Server| {
        env.command()
            .args(["--json", "loadgen", "--plain-http", "--target", &server.addr.to_string()])
            .args(["--client-key-file", s(&a.key_file), "--password-file", s(&password)])
            .args(["--key-id", &a.aes, "--workload", "encrypt", "--concurrency", "2", "--seconds", seconds])
            .spawn_output()
    };
    let runs = [loadgen(&a.env, &ga), loadgen(&b_env, &gb)];
    let mut total_rate = 0.0;
    for run in runs {
        let out = run.join().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rate = report["RequestsPerSecond"].as_f64().unwrap();
        eprintln!("gateway admitted {rate:.1}/s ({report})");
        assert!(rate > 0.0, "both gateways admit calls");
        total_rate += rate;
    }
    let error = (total_rate - QPS) / QPS;
    eprintln!("cluster rate {total_rate:.1}/s against a quota of {QPS}/s: error {:+.1}%", error * 100.0);
    assert!(error.abs() <= 0.10, "cluster rate {total_rate:.1}/s is not within 10% of {QPS}/s");
}

/// Runs a command in a thread, returning its output.
trait SpawnOutput {
    fn spawn_output(self) -> std::thread::JoinHandle<std::process::Output>;
}

impl SpawnOutput for &mut std::process::Command {
    fn spawn_output(self) -> std::thread::JoinHandle<std::process::Output> {
        let child = self.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        std::thread::spawn(move || child.wait_with_output().unwrap())
    }
}

#[test]
fn gateways_keep_serving_while_postgres_is_down_and_reconverge() {
    let (pg, url) = cluster();
    let a = setup_in(Env::bare_on(&url));
    let b_env = a.env.copy();
    let ga = Server::start(&a.env, &[]);
    let gb = Server::start(&b_env, &[]);
    let signer = Signer::load(&a.key_file);
    assert_eq!(signer.call(ga.addr, "Encrypt", &encrypt_body(&a.aes)).status, 200);

    pg.stop_server().unwrap();
    // Crypto goes on with the snapshot each gateway holds; writes are refused, clearly.
    let mut served_while_down = 0;
    for _ in 0..20 {
        for g in [&ga, &gb] {
            assert_eq!(signer.call(g.addr, "Encrypt", &encrypt_body(&a.aes)).status, 200, "{}", g.log_text());
            served_while_down += 1;
        }
    }
    let out = a.env.run(&["key", "create"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("store is unavailable"), "{err}");

    pg.start_server().unwrap();
    // Writes work again, and reach both gateways.
    let (new_id, new_file) = new_client_key(&a.env, "app", &[]);
    let fresh = Signer::load(&new_file);
    for g in [&ga, &gb] {
        until_status(&fresh, g, &a.aes, |s| s == 200, Duration::from_secs(5));
    }
    // The calls served while the database was down were buffered and written after.
    ga.terminate();
    gb.terminate();
    let rows = audit_rows(&a.env, &["--client-key", &a.client_key_id, "--decision", "allow"]);
    assert!(
        rows.len() > served_while_down,
        "{} audit rows for {} calls made while down",
        rows.len(),
        served_while_down
    );
    let _ = new_id;
}

#[test]
fn store_migrate_copies_a_single_node_deployment_and_verifies_it() {
    let (_pg, url) = cluster();
    // A populated single-node deployment: keys, a secret, an AAP, client keys, audit rows.
    let a = setup();
    a.env.ok(&[
        "secret",
        "create",
        "--secret-name",
        "db/password",
        "--secret-data",
        "s3cret",
        "--encryption-key-id",
        &a.aes,
    ]);
    a.env.ok(&["access-key", "create"]);
    let server = Server::start(&a.env, &[]);
    let signer = Signer::load(&a.key_file);
    assert_eq!(signer.call(server.addr, "Encrypt", &encrypt_body(&a.aes)).status, 200);
    server.terminate();
    let sqlite_digests = a.env.ok(&["store", "verify"])["Tables"].clone();

    let report = a.env.ok(&["store", "migrate", "--to", &url]);
    assert_eq!(report["Verified"], true);
    assert_eq!(report["Tables"], sqlite_digests, "the copy has the same rows and checksums");
    // Migrating into a database that is no longer empty is refused.
    let again = a.env.run(&["store", "migrate", "--to", &url]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"), "{:?}", again);

    // The same data directory on PostgreSQL: the same catalogue, the same key material.
    let pg_env = Env { dir: tempfile::tempdir().unwrap(), store: Some(url.clone()) };
    let copied = std::process::Command::new("cp").arg("-a").arg(a.env.data_dir()).arg(pg_env.data_dir()).status();
    assert!(copied.unwrap().success());
    std::fs::remove_file(pg_env.data_dir().join("aapkit.db")).unwrap();
    let digests = pg_env.ok(&["store", "verify"])["Tables"].clone();
    assert_eq!(digests, sqlite_digests);
    assert_eq!(pg_env.ok(&["key", "list"]), a.env.ok(&["key", "list"]));
    // The client key and key material copied work on a gateway serving from PostgreSQL.
    let server = Server::start(&pg_env, &[]);
    assert_eq!(signer.call(server.addr, "Encrypt", &encrypt_body(&a.aes)).status, 200, "{}", server.log_text());
    server.terminate();
}

/// Expiry notices run on one gateway of the cluster, fire once per threshold, and move to another
/// gateway when the leader dies.
#[test]
fn expiry_notices_fire_once_from_one_leader_and_fail_over() {
    let (_pg, url) = cluster();
    let a = setup_in(Env::bare_on(&url));
    // A key with 20 days left: the 180-, 90- and 30-day notices are due.
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::format_description::well_known::Rfc3339;
    let nb = (now - time::Duration::days(1)).replace_nanosecond(0).unwrap().format(&fmt).unwrap();
    let na = (now + time::Duration::days(20)).replace_nanosecond(0).unwrap().format(&fmt).unwrap();
    let (expiring, _) = new_client_key(&a.env, "app", &["--not-before", &nb, "--not-after", &na]);
    let b_env = a.env.copy();
    let flags = ["--expiry-check-interval", "1"];
    let ga = Server::start(&a.env, &flags);
    std::thread::sleep(Duration::from_millis(500));
    let gb = Server::start(&b_env, &flags);
    let leads = |s: &Server| s.log_text().contains("now runs the cluster's client-key expiry notices");
    let deadline = Instant::now() + Duration::from_secs(10);
    let notices = || a.env.ok(&["audit", "notices", "--client-key", &expiring])["Count"].as_u64().unwrap();
    while notices() < 3 {
        assert!(Instant::now() < deadline, "notices not fired: {}", ga.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(notices(), 3, "each threshold once");
    assert!(leads(&ga) != leads(&gb), "exactly one leader:\nA: {}\nB: {}", ga.log_text(), gb.log_text());
    let (leader, follower) = if leads(&ga) { (ga, gb) } else { (gb, ga) };
    leader.kill9();
    // The follower takes over (it retries every 10 s).
    let deadline = Instant::now() + Duration::from_secs(25);
    while !leads(&follower) {
        assert!(Instant::now() < deadline, "no failover: {}", follower.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(notices(), 3, "the new leader fires nothing twice");
}
