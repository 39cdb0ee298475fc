//! Client-key expiry notices with a fake clock: once per threshold and key, the tightest one when
//! several are crossed at once, webhook delivery with retries, and the server's periodic checker.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aapkit_host::ops::{ExpiryChecker, Metrics, OpsObserver, OpsOptions, OpsRuntime, WebhookConfig};
use aapkit_host::server::native::NativeEnforcer;
use aapkit_host::server::{Enforcer, NoObserver};
use aapkit_store::{AapInput, MasterKey, NetworkRuleInput, NewClientKey, PolicyInput, Store};

const DAY: i64 = 86_400;
const T0: i64 = 1_900_000_000;
const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn store_with_aap() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_key(dir.path(), &MasterKey::generate().unwrap()).unwrap();
    store
        .create_network_rule(&NetworkRuleInput {
            name: "r".into(),
            network_type: "Private".into(),
            source_private_ip: vec!["10.0.0.0/8".into()],
            description: String::new(),
        })
        .unwrap();
    store
        .create_policy(&PolicyInput {
            name: "p".into(),
            permissions: vec!["RbacPermission/Template/CryptoServiceKeyUser".into()],
            resources: vec!["key/*".into()],
            kms_instance: "kst-x".into(),
            network_rules: vec!["r".into()],
            description: String::new(),
        })
        .unwrap();
    store
        .create_aap(&AapInput {
            name: "app".into(),
            policies: vec!["p".into()],
            authentication_method: "ClientKey".into(),
            description: String::new(),
        })
        .unwrap();
    (dir, Arc::new(store))
}

fn add_key(store: &Store, n: u32, not_after: i64) -> String {
    let id = format!("KAAP.00000000-0000-4000-8000-{n:012}");
    store
        .insert_client_key(&NewClientKey {
            client_key_id: id.clone(),
            aap_name: "app".into(),
            key_algorithm: "RSA_2048".into(),
            public_key_data: CERT.into(),
            not_before: T0 - 400 * DAY,
            not_after,
        })
        .unwrap();
    id
}

fn checker(store: &Arc<Store>, webhook: Option<WebhookConfig>) -> Arc<ExpiryChecker> {
    Arc::new(ExpiryChecker {
        store: store.clone(),
        metrics: Arc::new(Metrics::new()),
        webhook,
        instance_id: "kst-x".into(),
    })
}

#[test]
fn one_notice_per_threshold_with_a_fake_clock() {
    let (_d, store) = store_with_aap();
    let key = add_key(&store, 1, T0 + 200 * DAY);
    let c = checker(&store, None);
    let fired_at = |now: i64| -> Vec<i64> { c.check(now).unwrap().iter().map(|n| n.threshold_days).collect() };

    assert_eq!(fired_at(T0), Vec::<i64>::new(), "200 days left: nothing yet");
    assert_eq!(fired_at(T0 + 20 * DAY - 1), Vec::<i64>::new(), "a second before 180 days left");
    assert_eq!(fired_at(T0 + 20 * DAY), vec![180]);
    assert_eq!(fired_at(T0 + 20 * DAY), Vec::<i64>::new(), "not twice");
    assert_eq!(fired_at(T0 + 60 * DAY), Vec::<i64>::new());
    assert_eq!(fired_at(T0 + 110 * DAY), vec![90]);
    assert_eq!(fired_at(T0 + 111 * DAY), Vec::<i64>::new());
    assert_eq!(fired_at(T0 + 170 * DAY), vec![30]);
    assert_eq!(fired_at(T0 + 193 * DAY + 3_600), vec![7]);
    assert_eq!(fired_at(T0 + 199 * DAY), Vec::<i64>::new());
    assert_eq!(fired_at(T0 + 201 * DAY), Vec::<i64>::new(), "expired keys get no notice");

    let notices = store.list_expiry_notices(Some(&key)).unwrap();
    let mut thresholds: Vec<i64> = notices.iter().map(|n| n.threshold_days).collect();
    thresholds.sort_unstable();
    assert_eq!(thresholds, vec![7, 30, 90, 180]);
    assert!(notices.iter().all(|n| n.delivery == "None"));
    let seven = notices.iter().find(|n| n.threshold_days == 7).unwrap();
    assert_eq!(seven.days_to_expiry, 6, "6 days and 23 hours left");
    let text = c.metrics.render(None, &[], T0);
    for t in [180, 90, 30, 7] {
        assert!(text.contains(&format!("aapkit_expiry_notices_total{{threshold_days=\"{t}\"}} 1")), "{text}");
    }
}

#[test]
fn several_thresholds_at_once_announce_the_tightest() {
    let (_d, store) = store_with_aap();
    let key = add_key(&store, 2, T0 + 20 * DAY);
    let c = checker(&store, None);
    let fired: Vec<i64> = c.check(T0).unwrap().iter().map(|n| n.threshold_days).collect();
    assert_eq!(fired, vec![30]);
    let notices = store.list_expiry_notices(Some(&key)).unwrap();
    let superseded: Vec<i64> =
        notices.iter().filter(|n| n.delivery == "Superseded").map(|n| n.threshold_days).collect();
    assert_eq!(superseded.len(), 2, "{notices:?}");
    assert!(superseded.contains(&180) && superseded.contains(&90));
    assert_eq!(c.check(T0 + DAY).unwrap().len(), 0);
    let fired: Vec<i64> = c.check(T0 + 14 * DAY).unwrap().iter().map(|n| n.threshold_days).collect();
    assert_eq!(fired, vec![7]);
}

/// A tiny HTTP server: answers the first `fail_first` POSTs with 500, then 200; keeps the bodies.
fn webhook_receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/expiry", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(AtomicUsize::new(0));
    let (b, h) = (bodies.clone(), hits.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            assert!(first.starts_with("POST /hooks/expiry "), "{first}");
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap();
                    }
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let n = h.fetch_add(1, Ordering::SeqCst);
            b.lock().unwrap().push(String::from_utf8(body).unwrap());
            let status = if n < fail_first { "500 Internal Server Error" } else { "200 OK" };
            let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_retried_with_backoff_and_recorded() {
    let (_d, store) = store_with_aap();
    let key = add_key(&store, 3, T0 + 5 * DAY);
    let (url, bodies, hits) = webhook_receiver(2);
    let mut cfg = WebhookConfig::parse(&url).unwrap();
    cfg.first_backoff = Duration::from_millis(20);
    let c = checker(&store, Some(cfg));
    let fired = c.check(T0).unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].delivery, "Pending");
    assert!(c.clone().deliver(fired[0].clone()).await);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let notice = store.list_expiry_notices(Some(&key)).unwrap().into_iter().find(|n| n.threshold_days == 7).unwrap();
    assert_eq!((notice.delivery.as_str(), notice.delivery_attempts), ("Delivered", 3));
    let body: serde_json::Value = serde_json::from_str(&bodies.lock().unwrap()[2]).unwrap();
    assert_eq!(body["Event"], "ClientKeyExpiring");
    assert_eq!(body["ClientKeyId"], key.as_str());
    assert_eq!(body["AapName"], "app");
    assert_eq!(body["ThresholdDays"], 7);
    assert_eq!(body["DaysToExpiry"], 5);
    assert_eq!(body["InstanceId"], "kst-x");

    // A receiver that never accepts: every attempt fails, the last one marks the notice Failed.
    let key2 = add_key(&store, 4, T0 + 6 * DAY);
    let (url, _bodies, hits) = webhook_receiver(usize::MAX);
    let mut cfg = WebhookConfig::parse(&url).unwrap();
    cfg.first_backoff = Duration::from_millis(10);
    cfg.max_attempts = 3;
    let c = checker(&store, Some(cfg));
    let fired = c.check(T0).unwrap();
    assert_eq!(fired.len(), 1, "only the new key's notice");
    assert!(!c.clone().deliver(fired[0].clone()).await);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let n = store.list_expiry_notices(Some(&key2)).unwrap().into_iter().find(|n| n.threshold_days == 7).unwrap();
    assert_eq!((n.delivery.as_str(), n.delivery_attempts), ("Failed", 3));
    assert!(n.last_error.contains("500"), "{}", n.last_error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_checker_runs_periodically_on_the_injected_clock() {
    let (_d, store) = store_with_aap();
    let key = add_key(&store, 5, T0 + 100 * DAY);
    let (url, bodies, _) = webhook_receiver(0);
    let now = Arc::new(AtomicI64::new(T0));
    let n2 = now.clone();
    let clock: aapkit_host::ops::Clock = Arc::new(move || n2.load(Ordering::SeqCst));
    let opts = OpsOptions {
        expiry_webhook: Some(WebhookConfig::parse(&url).unwrap()),
        expiry_check_interval: Duration::from_millis(30),
        ..OpsOptions::default()
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let observer = OpsObserver::new(Arc::new(NoObserver));
    let enforcer: Arc<dyn Enforcer> = Arc::new(NativeEnforcer::new());
    let ops = OpsRuntime::start(&opts, observer, store.clone(), enforcer, "kst-x", clock, rx).await.unwrap();
    let wait_for = |want: usize| {
        let bodies = bodies.clone();
        async move {
            for _ in 0..200 {
                if bodies.lock().unwrap().len() >= want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("expected {want} webhook posts, got {}", bodies.lock().unwrap().len());
        }
    };
    // 100 days left: the 180-day notice.
    wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // several more checks: no repeats
    assert_eq!(bodies.lock().unwrap().len(), 1);
    // 25 days left: the 30-day notice; the 90-day one it skipped over is recorded as superseded.
    now.store(T0 + 75 * DAY, Ordering::SeqCst);
    wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bodies.lock().unwrap().len(), 2);
    let thresholds: Vec<i64> = bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap()["ThresholdDays"].as_i64().unwrap())
        .collect();
    assert_eq!(thresholds, vec![180, 30]);
    tx.send(true).unwrap();
    ops.shutdown().await;
    let delivered = store.list_expiry_notices(Some(&key)).unwrap();
    assert_eq!(delivered.iter().filter(|n| n.delivery == "Delivered").count(), 2);
    assert_eq!(delivered.iter().filter(|n| n.delivery == "Superseded").count(), 1);
}
