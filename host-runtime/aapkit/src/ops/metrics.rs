//! The gateway's metrics and their Prometheus text exposition (format 0.0.4), written by hand.
//!
//! The request path only touches atomics and one short-held map lock; label values come from
//! closed sets (API names, our error codes, QPS groups) so an attacker cannot grow the series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use policy_core::{Api, QpsGroup};

use super::quota::{group_index, group_name, GROUPS};
use crate::server::RequestRecord;
use aapkit_store::ClientKeyExpiry;
use proxy_wasm_host::FilterHostStats;

/// Latency histogram bucket bounds, in microseconds (rendered in seconds).
const BUCKETS_US: [u64; 14] =
    [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000];

/// One slot per known API plus one for everything else.
const API_SLOTS: usize = Api::ALL.len() + 1;

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, us: u64) {
        if let Some(i) = BUCKETS_US.iter().position(|b| us <= *b) {
            if let Some(b) = self.buckets.get(i) {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// Counters of the operations side (audit, notices, webhook), kept with the request metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, String), u64>>,
    latency: [Histogram; API_SLOTS],
    quota_rejections: [AtomicU64; 6],
    /// Requests that ended without a verified signature, by [`super::audit::UNAUTHENTICATED_REASONS`].
    unauthenticated: [AtomicU64; super::audit::UNAUTHENTICATED_REASONS.len()],
    pub audit_written: AtomicU64,
    pub audit_dropped: AtomicU64,
    pub audit_write_errors: AtomicU64,
    pub audit_pruned: AtomicU64,
    expiry_notices: Mutex<BTreeMap<i64, u64>>,
    pub webhook_delivered: AtomicU64,
    pub webhook_failed_attempts: AtomicU64,
    pub webhook_given_up: AtomicU64,
    /// Configuration reloads that failed (each is retried until one succeeds).
    pub config_reload_failures: AtomicU64,
    /// The control-plane generation of the configuration snapshot in force.
    pub config_generation: AtomicU64,
}

fn api_slot(name: &str) -> (usize, &'static str) {
    match Api::ALL.iter().position(|a| a.name() == name) {
        Some(i) => (i, Api::ALL.get(i).map_or("other", |a| a.name())),
        None => (Api::ALL.len(), if name.is_empty() { "none" } else { "other" }),
    }
}

/// Error codes are ours, but keep the label safe and short regardless.
fn code_label(code: &str) -> String {
    if code.is_empty() {
        "OK".to_owned()
    } else if code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_') {
        code.to_owned()
    } else {
        "Other".to_owned()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Counts one finished request.
    pub fn observe(&self, r: &RequestRecord) {
        let (slot, api) = api_slot(&r.api);
        let decision = if r.allowed { "allow" } else { "deny" };
        {
            let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            *map.entry((api, decision, code_label(&r.error_code))).or_insert(0) += 1;
        }
        if let Some(h) = self.latency.get(slot) {
            h.observe(r.latency_us);
        }
        if !r.allowed && r.client_key_id.is_empty() {
            let reason = super::audit::unauthenticated_reason(&r.error_code);
            if let Some(i) = super::audit::UNAUTHENTICATED_REASONS.iter().position(|x| *x == reason) {
                if let Some(c) = self.unauthenticated.get(i) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
            return; // a pre-authentication refusal is no quota rejection
        }
        if r.error_code == policy_core::ErrorCode::RejectedThrottling.as_str() {
            if let Some(c) = r.qps_group.and_then(|g| self.quota_rejections.get(group_index(g))) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn expiry_notice(&self, threshold_days: i64) {
        let mut map = self.expiry_notices.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(threshold_days).or_insert(0) += 1;
    }

    /// Requests counted under an unauthenticated `reason` (one of `UNAUTHENTICATED_REASONS`).
    pub fn unauthenticated(&self, reason: &str) -> u64 {
        super::audit::UNAUTHENTICATED_REASONS
            .iter()
            .position(|x| *x == reason)
            .and_then(|i| self.unauthenticated.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn quota_rejections(&self, g: QpsGroup) -> u64 {
        self.quota_rejections.get(group_index(g)).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// The exposition. `filter` = the wasm host's counters, `keys` = client keys with their
    /// NotAfter, `now` = seconds since the epoch (for days to expiry).
    pub fn render(&self, filter: Option<FilterHostStats>, keys: &[ClientKeyExpiry], now: i64) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let o = &mut out;

        family(
            o,
            "aapkit_requests_total",
            "counter",
            "Instance API requests by API, decision and error code (OK = success).",
        );
        {
            let map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            for ((api, decision, code), n) in map.iter() {
                line(o, "aapkit_requests_total", &[("api", api), ("decision", decision), ("code", code)], *n);
            }
        }

        family(o, "aapkit_request_duration_seconds", "histogram", "Time from request arrival to response, by API.");
        for (slot, h) in self.latency.iter().enumerate() {
            let count = h.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let api = Api::ALL.get(slot).map_or("other", |a| a.name());
            let mut cumulative = 0u64;
            for (i, bound) in BUCKETS_US.iter().enumerate() {
                cumulative += h.buckets.get(i).map_or(0, |b| b.load(Ordering::Relaxed));
                let le = seconds(*bound);
                line(o, "aapkit_request_duration_seconds_bucket", &[("api", api), ("le", &le)], cumulative);
            }
            line(o, "aapkit_request_duration_seconds_bucket", &[("api", api), ("le", "+Inf")], count);
            let _ = writeln!(
                o,
                "aapkit_request_duration_seconds_sum{{api=\"{api}\"}} {}",
                seconds(h.sum_us.load(Ordering::Relaxed))
            );
            line(o, "aapkit_request_duration_seconds_count", &[("api", api)], count);
        }

        family(
            o,
            "aapkit_quota_rejections_total",
            "counter",
            "Calls refused with 429 Rejected.Throttling, by QPS group.",
        );
        for g in GROUPS {
            line(o, "aapkit_quota_rejections_total", &[("group", group_name(g))], self.quota_rejections(g));
        }

        for (name, help, kind, v) in [
            (
                "aapkit_config_reload_failures_total",
                "Configuration reloads that failed (the previous configuration stayed in force; retried).",
                "counter",
                &self.config_reload_failures,
            ),
            (
                "aapkit_config_generation",
                "Control-plane generation of the key ring and policy bundle in force.",
                "gauge",
                &self.config_generation,
            ),
        ] {
            family(o, name, kind, help);
            line(o, name, &[], v.load(Ordering::Relaxed));
        }

        family(
            o,
            "aapkit_unauthenticated_requests_total",
            "counter",
            "Requests that ended without a verified client-key signature (never in the audit log), by reason.",
        );
        for (reason, c) in super::audit::UNAUTHENTICATED_REASONS.iter().zip(&self.unauthenticated) {
            line(o, "aapkit_unauthenticated_requests_total", &[("reason", *reason)], c.load(Ordering::Relaxed));
        }

        if let Some(f) = filter {
            for (name, help, kind, v) in [
                ("aapkit_filter_requests_total", "Requests the proxy-wasm filter saw.", "counter", f.requests),
                (
                    "aapkit_filter_traps_total",
                    "Filter calls that trapped (the request failed closed).",
                    "counter",
                    f.traps,
                ),
                (
                    "aapkit_filter_vm_restarts_total",
                    "Filter VMs created to replace a dropped one.",
                    "counter",
                    f.vm_restarts,
                ),
                ("aapkit_filter_vms_created_total", "Filter VMs created.", "counter", f.vms_created),
                (
                    "aapkit_filter_fail_closed_total",
                    "Requests the filter host failed closed.",
                    "counter",
                    f.fail_closed,
                ),
                (
                    "aapkit_filter_foreign_calls_total",
                    "verify_signature calls served by the host.",
                    "counter",
                    f.foreign_calls,
                ),
                ("aapkit_filter_vms_live", "Filter VMs alive now.", "gauge", f.vms_live),
            ] {
                family(o, name, kind, help);
                line(o, name, &[], v);
            }
        }

        family(
            o,
            "aapkit_client_key_days_to_expiry",
            "gauge",
            "Whole days until each client key's NotAfter (negative once expired).",
        );
        for k in keys {
            let days = aapkit_store::days_to_expiry(k.not_after, now);
            let _ = writeln!(
                o,
                "aapkit_client_key_days_to_expiry{{client_key_id=\"{}\",aap=\"{}\"}} {days}",
                escape(&k.client_key_id),
                escape(&k.aap_name)
            );
        }
        family(o, "aapkit_client_keys", "gauge", "Client keys by the time left until NotAfter.");
        let mut buckets: [(&str, u64); 6] =
            [("expired", 0), ("7d", 0), ("30d", 0), ("90d", 0), ("180d", 0), ("later", 0)];
        for k in keys {
            let left = k.not_after - now;
            let i = if left < 0 {
                0
            } else if left <= 7 * 86_400 {
                1
            } else if left <= 30 * 86_400 {
                2
            } else if left <= 90 * 86_400 {
                3
            } else if left <= 180 * 86_400 {
                4
            } else {
                5
            };
            if let Some(b) = buckets.get_mut(i) {
                b.1 += 1;
            }
        }
        for (label, n) in buckets {
            line(o, "aapkit_client_keys", &[("expires_within", label)], n);
        }

        family(o, "aapkit_expiry_notices_total", "counter", "Client-key expiry notices sent, by threshold in days.");
        {
            let map = self.expiry_notices.lock().unwrap_or_else(|p| p.into_inner());
            for t in super::expiry::THRESHOLDS_DAYS {
                line(
                    o,
                    "aapkit_expiry_notices_total",
                    &[("threshold_days", &t.to_string())],
                    map.get(&t).copied().unwrap_or(0),
                );
            }
        }
        family(o, "aapkit_expiry_webhook_deliveries_total", "counter", "Expiry webhook POSTs by result.");
        for (result, c) in [
            ("delivered", &self.webhook_delivered),
            ("failed_attempt", &self.webhook_failed_attempts),
            ("given_up", &self.webhook_given_up),
        ] {
            line(o, "aapkit_expiry_webhook_deliveries_total", &[("result", result)], c.load(Ordering::Relaxed));
        }

        for (name, help, c) in [
            ("aapkit_audit_records_written_total", "Audit rows committed to the store.", &self.audit_written),
            (
                "aapkit_audit_records_dropped_total",
                "Audit rows dropped because the queue was full or the store failed.",
                &self.audit_dropped,
            ),
            ("aapkit_audit_write_errors_total", "Failed audit batch writes (retried).", &self.audit_write_errors),
            (
                "aapkit_audit_records_pruned_total",
                "Audit rows and management events removed by retention.",
                &self.audit_pruned,
            ),
        ] {
            family(o, name, "counter", help);
            line(o, name, &[], c.load(Ordering::Relaxed));
        }
        out
    }
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

fn line(o: &mut String, name: &str, labels: &[(&str, &str)], v: u64) {
    o.push_str(name);
    if !labels.is_empty() {
        o.push('{');
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(o, "{k}=\"{}\"", escape(val));
        }
        o.push('}');
    }
    let _ = writeln!(o, " {v}");
}

fn seconds(us: u64) -> String {
    format!("{}", us as f64 / 1e6)
}

/// Label value escaping of the text format: backslash, double quote, newline.
pub fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(api: &str, allowed: bool, code: &str, latency_us: u64) -> RequestRecord {
        RequestRecord {
            request_id: "r".into(),
            time_unix: 0,
            api: api.into(),
            client_key_id: "KAAP.x".into(),
            aap: String::new(),
            policy: String::new(),
            resource: String::new(),
            qps_group: Some(QpsGroup::DataKeyPair),
            source: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            allowed,
            status: 200,
            error_code: code.into(),
            latency_us,
            detail: String::new(),
        }
    }

    #[test]
    fn exposition_lines() {
        let m = Metrics::new();
        m.observe(&record("Encrypt", true, "", 300));
        m.observe(&record("Encrypt", true, "", 3_000));
        m.observe(&record("Encrypt", false, "Forbidden.NoPermission", 50));
        m.observe(&record("Bogus\"api", false, "InvalidApiName", 50));
        m.observe(&record("GenerateDataKeyPair", false, "Rejected.Throttling", 10));
        m.expiry_notice(30);
        let keys = [ClientKeyExpiry { client_key_id: "KAAP.a".into(), aap_name: "app".into(), not_after: 10 * 86_400 }];
        let text = m.render(None, &keys, 0);
        for want in [
            "aapkit_requests_total{api=\"Encrypt\",decision=\"allow\",code=\"OK\"} 2",
            "aapkit_requests_total{api=\"Encrypt\",decision=\"deny\",code=\"Forbidden.NoPermission\"} 1",
            "aapkit_requests_total{api=\"other\",decision=\"deny\",code=\"InvalidApiName\"} 1",
            "aapkit_request_duration_seconds_bucket{api=\"Encrypt\",le=\"0.0005\"} 2",
            "aapkit_request_duration_seconds_bucket{api=\"Encrypt\",le=\"0.0025\"} 2",
            "aapkit_request_duration_seconds_bucket{api=\"Encrypt\",le=\"0.005\"} 3",
            "aapkit_request_duration_seconds_bucket{api=\"Encrypt\",le=\"+Inf\"} 3",
            "aapkit_request_duration_seconds_count{api=\"Encrypt\"} 3",
            "aapkit_quota_rejections_total{group=\"DataKeyPair\"} 1",
            "aapkit_client_key_days_to_expiry{client_key_id=\"KAAP.a\",aap=\"app\"} 10",
            "aapkit_client_keys{expires_within=\"30d\"} 1",
            "aapkit_expiry_notices_total{threshold_days=\"30\"} 1",
            "aapkit_audit_records_dropped_total 0",
            "# TYPE aapkit_request_duration_seconds histogram",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("aapkit_filter_traps_total"));
        let with_filter = m.render(Some(FilterHostStats { traps: 2, vm_restarts: 1, ..Default::default() }), &[], 0);
        assert!(with_filter.contains("aapkit_filter_traps_total 2"));
        assert!(with_filter.contains("aapkit_filter_vm_restarts_total 1"));
        // Every sample line is `name{labels} value` or `name value`.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap_or(("", ""));
            assert!(v.parse::<f64>().is_ok(), "bad sample {l:?}");
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
