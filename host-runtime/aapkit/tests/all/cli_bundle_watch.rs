//! `aapkit bundle export --watch`: the file follows the store's generation, replaced atomically;
//! SIGTERM and SIGINT end it cleanly; `--watch` without a file is a usage error.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::cli_support::{self, s, with_aap, Env};

/// Starts `bundle export --watch --out FILE --json` and returns it with its stdout reader.
fn start_watch(env: &Env, file: &std::path::Path) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = env
        .command()
        .args(["--json", "bundle", "export", "--watch", "--out", s(file)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// The next `{"Output","Scope","Generation"}` line (each is one line of JSON); its generation.
fn next_generation(lines: &mut BufReader<std::process::ChildStdout>) -> u64 {
    let mut line = String::new();
    assert!(lines.read_line(&mut line).unwrap() > 0, "the watcher closed its stdout");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(v["Scope"], cli_support::TEST_INSTANCE, "{v}");
    v["Generation"].as_u64().unwrap()
}

fn bundle_in(file: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

/// Sends `sig` to the child and waits (10 s at most) for it to exit; its status and stderr.
fn signal_and_wait(mut child: Child, sig: &str) -> (std::process::ExitStatus, String) {
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the watcher did not exit within 10 s of {sig}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn watch_rewrites_the_file_on_every_generation() {
    let env = Env::new();
    with_aap(&env);
    let file = env.path("out/bundle.json");
    std::fs::create_dir(env.path("out")).unwrap();
    let (child, mut lines) = start_watch(&env, &file);

    // The first bundle is written at once, at the store's current generation.
    let g0 = next_generation(&mut lines);
    assert_eq!(bundle_in(&file)["ApplicationAccessPoints"][0]["Name"], "app");
    assert!(bundle_in(&file)["Keys"].as_array().unwrap().is_empty());

    // A change made by another process (the CLI) reaches the file within a second or so.
    let changed = Instant::now();
    let key = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let g1 = next_generation(&mut lines);
    assert!(g1 > g0, "{g1} after {g0}");
    assert!(changed.elapsed() < Duration::from_secs(3), "took {:?}", changed.elapsed());
    assert_eq!(bundle_in(&file)["Keys"][0]["KeyId"], key);

    // Another one, and only one line per generation written.
    env.ok(&["alias", "create", "--alias-name", "alias/w", "--key-id", &key]);
    let g2 = next_generation(&mut lines);
    assert!(g2 > g1);
    assert_eq!(bundle_in(&file)["Keys"][0]["Aliases"][0], "alias/w");
    // What the watcher writes, policy-core accepts.
    policy_core::compile_bundle(&std::fs::read_to_string(&file).unwrap()).unwrap();

    // The replacement is a rename: no temporary file stays behind.
    let names: Vec<_> = std::fs::read_dir(env.path("out")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("bundle.json")]);

    let (status, err) = signal_and_wait(child, "-TERM");
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains(&format!("generation {g2}")), "{err}");
}

#[test]
fn watch_stops_on_sigint() {
    let env = Env::new();
    let file = env.path("bundle.json");
    let (child, mut lines) = start_watch(&env, &file);
    next_generation(&mut lines);
    let (status, err) = signal_and_wait(child, "-INT");
    assert!(status.success(), "{status:?}: {err}");
}

#[test]
fn watch_needs_a_file_and_a_valid_scope() {
    let env = Env::new();
    let (_, err) = env.fails(&["bundle", "export", "--watch"], 2);
    assert!(err.contains("--watch needs --output"), "{err}");
    // A wrong scope fails at once instead of watching forever.
    let file = env.path("b.json");
    env.fails_with(&["bundle", "export", "--watch", "--out", s(&file), "--scope", "nowhere"], "InvalidParameter");
    assert!(!file.exists());
}

/// `--format envoy-ecds`: the file Envoy's `config_discovery` reads from a `path_config_source` —
/// a DiscoveryResponse whose one TypedExtensionConfig is the Wasm filter with the bundle as its
/// StringValue configuration, `version_info` the generation; kept current by `--watch` too.
#[test]
fn envoy_ecds_format_wraps_the_bundle() {
    let env = Env::new();
    with_aap(&env);
    let plain = env.run(&["bundle", "export"]);
    assert!(plain.status.success(), "{}", cli_support::stderr(&plain));
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();

    let out = env.run(&["bundle", "export", "--format", "envoy-ecds", "--envoy-filter-name", "kms-aap"]);
    assert!(out.status.success(), "{}", cli_support::stderr(&out));
    let ecds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let generation = ecds["version_info"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(generation > 0);
    let resources = ecds["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1);
    let r = &resources[0];
    assert_eq!(r["@type"], "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig");
    assert_eq!(r["name"], "kms-aap");
    let wasm = &r["typed_config"];
    assert_eq!(wasm["@type"], "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm");
    assert_eq!(wasm["config"]["failure_policy"], "FAIL_CLOSED");
    assert_eq!(wasm["config"]["vm_config"]["code"]["local"]["filename"], "/etc/envoy/aapkit_filter.wasm");
    let conf = &wasm["config"]["configuration"];
    assert_eq!(conf["@type"], "type.googleapis.com/google.protobuf.StringValue");
    let text = conf["value"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(text).unwrap(), plain);
    policy_core::compile_bundle(text).unwrap();

    // Watched: version_info follows the store.
    let file = env.path("ecds.json");
    let mut child = env
        .command()
        .args(["--json", "bundle", "export", "--watch", "--out", s(&file), "--format", "envoy-ecds"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let g0 = next_generation(&mut lines);
    env.ok(&["key", "create"]);
    let g1 = next_generation(&mut lines);
    assert!(g1 > g0);
    let ecds: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(ecds["version_info"], g1.to_string());
    let inner = ecds["resources"][0]["typed_config"]["config"]["configuration"]["value"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(inner).unwrap()["Keys"].as_array().unwrap().len(), 1);
    let (status, err) = signal_and_wait(child, "-TERM");
    assert!(status.success(), "{status:?}: {err}");
}

/// On a PostgreSQL store too (the deployment `--watch` is for): the PostgreSQL client blocks on a
/// runtime of its own, so the watcher must read the store outside its signal-waiting runtime. A
/// change through another CLI shows in the file; an outage is reported and survived; SIGTERM ends it.
#[test]
fn watch_follows_a_postgres_store() {
    let pg = aapkit_testpg::PgCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let env = Env::bare_on(&pg.create_database("aapkit").unwrap());
    env.ok(&["init", "--instance-id", cli_support::TEST_INSTANCE]);
    let file = env.path("bundle.json");
    let (mut child, mut lines) = start_watch(&env, &file);
    let g0 = next_generation(&mut lines);
    let key = env.ok(&["key", "create"])["KeyId"].as_str().unwrap().to_owned();
    let g1 = next_generation(&mut lines);
    assert!(g1 > g0);
    assert_eq!(bundle_in(&file)["Keys"][0]["KeyId"], key);

    // PostgreSQL down for a while: the file keeps the last bundle, the watcher keeps running.
    pg.stop_server().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the watcher exited with the store down");
    assert_eq!(bundle_in(&file)["Keys"][0]["KeyId"], key);
    pg.start_server().unwrap();
    env.ok(&["key", "create"]);
    let g2 = next_generation(&mut lines);
    assert!(g2 > g1);
    assert_eq!(bundle_in(&file)["Keys"].as_array().unwrap().len(), 2);

    let (status, err) = signal_and_wait(child, "-TERM");
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains("unavailable"), "the outage is reported: {err}");
}
