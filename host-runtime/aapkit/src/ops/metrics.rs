//! The gateway's metrics, exposed in the OpenMetrics text format by `prometheus-client`.
//!
//! The request path only touches atomics and short-held locks. Every label value comes from a
//! closed set (API names, our error codes, QPS groups, reasons, thresholds, result names, expiry
//! buckets), so no caller can grow the number of series.

use std::sync::atomic::{AtomicU64, Ordering};

use policy_core::{Api, ErrorCode, QpsGroup};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::unauthenticated::UnauthenticatedReason;
use crate::server::RequestRecord;
use aapkit_store::ClientKeyExpiry;
use proxy_wasm_host::FilterHostStats;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS_SECONDS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: &'static str,
    decision: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabel {
    api: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabel {
    group: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ThresholdLabel {
    threshold_days: i64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// What a configuration reload read: the access part whole or patched from the store's change
/// log; the key catalogue read or kept.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    access: &'static str,
    catalogue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExpiresWithinLabel {
    expires_within: &'static str,
}

/// The client-key expiry buckets: the label and the upper bound of time left, in seconds.
const EXPIRY_BUCKETS: [(&str, i64); 6] = [
    ("expired", -1),
    ("7d", 7 * 86_400),
    ("30d", 30 * 86_400),
    ("90d", 90 * 86_400),
    ("180d", 180 * 86_400),
    ("later", i64::MAX),
];

/// A monotonic count the host keeps (the filter host's counters): exposed as a counter whose
/// value is copied in at scrape time.
type MirroredCounter = Counter<u64, AtomicU64>;

/// The filter host's counters and gauge, mirrored at each scrape.
#[derive(Default)]
struct FilterMetrics {
    requests: MirroredCounter,
    traps: MirroredCounter,
    vm_restarts: MirroredCounter,
    vms_created: MirroredCounter,
    fail_closed: MirroredCounter,
    foreign_calls: MirroredCounter,
    quick_overruns: MirroredCounter,
    vms_live: Gauge<u64, AtomicU64>,
}

/// The metrics of one gateway: the request path, operations (audit, notices, webhook) and the
/// configuration reloads. Cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    /// The same metrics plus the filter host's, for a gateway that runs the wasm enforcer.
    registry_with_filter: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ApiLabel, Histogram>,
    quota_rejections: Family<GroupLabel, Counter>,
    unauthenticated: Family<ReasonLabel, Counter>,
    expiry_notices: Family<ThresholdLabel, Counter>,
    webhook: Family<ResultLabel, Counter>,
    client_keys: Family<ExpiresWithinLabel, Gauge>,
    filter: FilterMetrics,
    pub audit_written: Counter,
    pub audit_dropped: Counter,
    pub audit_write_errors: Counter,
    pub audit_pruned: Counter,
    /// Configuration reloads that failed (each is retried until one succeeds).
    pub config_reload_failures: Counter,
    /// Configuration reloads that put a new snapshot in force, by what they read.
    config_reloads: Family<ReloadLabels, Counter>,
    /// The control-plane generation of the configuration snapshot in force.
    pub config_generation: Gauge<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The API label: a known API's name, `none` for a request that named none, `other` otherwise.
fn api_label(name: &str) -> &'static str {
    match Api::ALL.iter().find(|a| a.name() == name) {
        Some(api) => api.name(),
        None if name.is_empty() => "none",
        None => "other",
    }
}

/// The code label: `OK` for success, one of our error codes (the Instance API's, or the KMS
/// endpoint's data-plane codes), or `Other`.
fn code_label(code: &str) -> &'static str {
    if code.is_empty() {
        return "OK";
    }
    if let Some(c) = policy_core::openapi::OpenApiCode::from_wire(code) {
        return c.as_str();
    }
    match ErrorCode::ALL.iter().find(|c| c.as_str() == code) {
        Some(c) => c.as_str(),
        None if code == REQUEST_ENTITY_TOO_LARGE => REQUEST_ENTITY_TOO_LARGE,
        None if code == SIGNATURE_NONCE_USED => SIGNATURE_NONCE_USED,
        None => "Other",
    }
}

/// The server's own code for an oversize body (not an Instance API error code).
const REQUEST_ENTITY_TOO_LARGE: &str = "RequestEntityTooLarge";
/// A replayed shared-gateway request (the KMS endpoint's replay window).
const SIGNATURE_NONCE_USED: &str = "SignatureNonceUsed";

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            registry: Registry::default(),
            registry_with_filter: Registry::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(BUCKETS_SECONDS)),
            quota_rejections: Family::default(),
            unauthenticated: Family::default(),
            expiry_notices: Family::default(),
            webhook: Family::default(),
            client_keys: Family::default(),
            filter: FilterMetrics::default(),
            audit_written: Counter::default(),
            audit_dropped: Counter::default(),
            audit_write_errors: Counter::default(),
            audit_pruned: Counter::default(),
            config_reload_failures: Counter::default(),
            config_reloads: Family::default(),
            config_generation: Gauge::default(),
        }
        .registered()
    }

    /// Registers every metric (with zero-valued series for the closed label sets, so dashboards
    /// see them before the first event).
    fn registered(mut self) -> Metrics {
        for g in QpsGroup::ALL {
            let _ = self.quota_rejections.get_or_create(&GroupLabel { group: g.name() });
        }
        for reason in UnauthenticatedReason::ALL {
            let _ = self.unauthenticated.get_or_create(&ReasonLabel { reason: reason.as_str() });
        }
        for access in ["whole", "patched"] {
            for catalogue in ["kept", "whole", "patched"] {
                let _ = self.config_reloads.get_or_create(&ReloadLabels { access, catalogue });
            }
        }
        for result in ["delivered", "failed_attempt", "given_up"] {
            let _ = self.webhook.get_or_create(&ResultLabel { result });
        }
        for (expires_within, _) in EXPIRY_BUCKETS {
            let _ = self.client_keys.get_or_create(&ExpiresWithinLabel { expires_within });
        }
        for registry in [&mut self.registry, &mut self.registry_with_filter] {
            registry.register(
                "aapkit_requests",
                "Instance API requests by API, decision and error code (OK = success)",
                self.requests.clone(),
            );
            registry.register(
                "aapkit_request_duration_seconds",
                "Time from request arrival to response, by API",
                self.latency.clone(),
            );
            registry.register(
                "aapkit_quota_rejections",
                "Calls refused with 429 Rejected.Throttling, by QPS group",
                self.quota_rejections.clone(),
            );
            registry.register(
                "aapkit_config_reload_failures",
                "Configuration reloads that failed (the previous configuration stayed in force; retried)",
                self.config_reload_failures.clone(),
            );
            registry.register(
                "aapkit_config_reloads",
                "Configuration reloads that put a new snapshot in force, by what they read: the access part \
                 and the key catalogue each read whole or patched from the store's change log (the catalogue \
                 also kept when no key, alias or secret changed)",
                self.config_reloads.clone(),
            );
            registry.register(
                "aapkit_config_generation",
                "Control-plane generation of the key ring and policy bundle in force",
                self.config_generation.clone(),
            );
            registry.register(
                "aapkit_unauthenticated_requests",
                "Requests that ended without a verified client-key signature (never in the audit log), by reason",
                self.unauthenticated.clone(),
            );
            registry.register(
                "aapkit_client_keys",
                "Client keys by the time left until NotAfter",
                self.client_keys.clone(),
            );
            registry.register(
                "aapkit_expiry_notices",
                "Client-key expiry notices sent, by threshold in days",
                self.expiry_notices.clone(),
            );
            registry.register(
                "aapkit_expiry_webhook_deliveries",
                "Expiry webhook POSTs by result",
                self.webhook.clone(),
            );
            registry.register(
                "aapkit_audit_records_written",
                "Audit rows committed to the store",
                self.audit_written.clone(),
            );
            registry.register(
                "aapkit_audit_records_dropped",
                "Audit rows dropped because the queue was full or the store failed",
                self.audit_dropped.clone(),
            );
            registry.register(
                "aapkit_audit_write_errors",
                "Failed audit batch writes (retried)",
                self.audit_write_errors.clone(),
            );
            registry.register(
                "aapkit_audit_records_pruned",
                "Audit rows and management events removed by retention",
                self.audit_pruned.clone(),
            );
        }
        let f = &self.filter;
        let r = &mut self.registry_with_filter;
        r.register("aapkit_filter_requests", "Requests the proxy-wasm filter saw", f.requests.clone());
        r.register("aapkit_filter_traps", "Filter calls that trapped (the request failed closed)", f.traps.clone());
        r.register("aapkit_filter_vm_restarts", "Filter VMs created to replace a dropped one", f.vm_restarts.clone());
        r.register("aapkit_filter_vms_created", "Filter VMs created", f.vms_created.clone());
        r.register("aapkit_filter_fail_closed", "Requests the filter host failed closed", f.fail_closed.clone());
        r.register("aapkit_filter_foreign_calls", "verify_signature calls served by the host", f.foreign_calls.clone());
        r.register(
            "aapkit_filter_quick_overruns",
            "Quick filter runs (on an async worker) over their short budget: that configuration's requests then go to the work pool",
            f.quick_overruns.clone(),
        );
        r.register("aapkit_filter_vms_live", "Filter VMs alive now", f.vms_live.clone());
        self
    }

    /// Zero-valued series for the expiry thresholds (the expiry checker's closed set).
    pub fn init_expiry_thresholds(&self, thresholds_days: &[i64]) {
        for &threshold_days in thresholds_days {
            let _ = self.expiry_notices.get_or_create(&ThresholdLabel { threshold_days });
        }
    }

    /// Counts one finished request.
    pub fn observe(&self, r: &RequestRecord) {
        let api = api_label(&r.api);
        let decision = if r.allowed { "allow" } else { "deny" };
        self.requests.get_or_create(&RequestLabels { api, decision, code: code_label(&r.error_code) }).inc();
        self.latency.get_or_create(&ApiLabel { api }).observe(r.latency_us as f64 / 1e6);
        if !r.allowed && r.client_key_id.is_empty() {
            let reason = UnauthenticatedReason::of_error_code(&r.error_code);
            self.unauthenticated.get_or_create(&ReasonLabel { reason: reason.as_str() }).inc();
            return; // a pre-authentication refusal is no quota rejection
        }
        if r.error_code == ErrorCode::RejectedThrottling.as_str() {
            if let Some(g) = r.qps_group {
                self.quota_rejections.get_or_create(&GroupLabel { group: g.name() }).inc();
            }
        }
    }

    /// Counts one reload that put a new snapshot in force.
    pub fn config_reloaded(&self, access: aapkit_store::AccessRead, catalogue: aapkit_store::CatalogueRead) {
        let access = match access {
            aapkit_store::AccessRead::Whole => "whole",
            aapkit_store::AccessRead::Patched { .. } => "patched",
        };
        let catalogue = match catalogue {
            aapkit_store::CatalogueRead::Kept => "kept",
            aapkit_store::CatalogueRead::Whole => "whole",
            aapkit_store::CatalogueRead::Patched { .. } => "patched",
        };
        self.config_reloads.get_or_create(&ReloadLabels { access, catalogue }).inc();
    }

    pub fn expiry_notice(&self, threshold_days: i64) {
        self.expiry_notices.get_or_create(&ThresholdLabel { threshold_days }).inc();
    }

    /// Counts one expiry webhook POST: `delivered`, `failed_attempt` or `given_up`.
    pub fn webhook_result(&self, result: WebhookResult) {
        self.webhook.get_or_create(&ResultLabel { result: result.as_str() }).inc();
    }

    /// Requests counted under an unauthenticated `reason`.
    pub fn unauthenticated(&self, reason: UnauthenticatedReason) -> u64 {
        self.unauthenticated.get_or_create(&ReasonLabel { reason: reason.as_str() }).get()
    }

    pub fn quota_rejections(&self, g: QpsGroup) -> u64 {
        self.quota_rejections.get_or_create(&GroupLabel { group: g.name() }).get()
    }

    /// The exposition. `filter` = the wasm host's counters, `keys` = client keys with their
    /// NotAfter, `now` = seconds since the epoch (for the time left to each key).
    pub fn render(&self, filter: Option<FilterHostStats>, keys: &[ClientKeyExpiry], now: i64) -> String {
        let mut counts = [0i64; EXPIRY_BUCKETS.len()];
        for k in keys {
            let left = k.not_after.saturating_sub(now);
            let bucket =
                if left < 0 { 0 } else { EXPIRY_BUCKETS.iter().position(|(_, bound)| left <= *bound).unwrap_or(0) };
            if let Some(c) = counts.get_mut(bucket) {
                *c += 1;
            }
        }
        for ((expires_within, _), n) in EXPIRY_BUCKETS.iter().zip(counts) {
            self.client_keys.get_or_create(&ExpiresWithinLabel { expires_within }).set(n);
        }
        let registry = match filter {
            Some(stats) => {
                let f = &self.filter;
                for (metric, value) in [
                    (&f.requests, stats.requests),
                    (&f.traps, stats.traps),
                    (&f.vm_restarts, stats.vm_restarts),
                    (&f.vms_created, stats.vms_created),
                    (&f.fail_closed, stats.fail_closed),
                    (&f.foreign_calls, stats.foreign_calls),
                    (&f.quick_overruns, stats.quick_overruns),
                ] {
                    metric.inner().store(value, Ordering::Relaxed);
                }
                f.vms_live.set(stats.vms_live);
                &self.registry_with_filter
            }
            None => &self.registry,
        };
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, registry);
        out
    }
}

/// The outcome of one expiry webhook POST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookResult {
    Delivered,
    FailedAttempt,
    GivenUp,
}

impl WebhookResult {
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookResult::Delivered => "delivered",
            WebhookResult::FailedAttempt => "failed_attempt",
            WebhookResult::GivenUp => "given_up",
        }
    }
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
            "aapkit_request_duration_seconds_bucket{le=\"0.0005\",api=\"Encrypt\"} 2",
            "aapkit_request_duration_seconds_bucket{le=\"0.0025\",api=\"Encrypt\"} 2",
            "aapkit_request_duration_seconds_bucket{le=\"0.005\",api=\"Encrypt\"} 3",
            "aapkit_request_duration_seconds_bucket{le=\"+Inf\",api=\"Encrypt\"} 3",
            "aapkit_request_duration_seconds_count{api=\"Encrypt\"} 3",
            "aapkit_quota_rejections_total{group=\"DataKeyPair\"} 1",
            "aapkit_client_keys{expires_within=\"30d\"} 1",
            "aapkit_expiry_notices_total{threshold_days=\"30\"} 1",
            "aapkit_audit_records_dropped_total 0",
            "# TYPE aapkit_request_duration_seconds histogram",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("aapkit_filter_traps_total"));
        let with_filter = m.render(
            Some(FilterHostStats { traps: 2, vm_restarts: 1, quick_overruns: 3, ..Default::default() }),
            &[],
            0,
        );
        assert!(with_filter.contains("aapkit_filter_traps_total 2"));
        assert!(with_filter.contains("aapkit_filter_vm_restarts_total 1"));
        assert!(with_filter.contains("aapkit_filter_quick_overruns_total 3"));
        // No series names a client key: labels come from closed sets only.
        assert!(!text.contains("KAAP.a"), "{text}");
        // Every sample line is `name{labels} value` or `name value`; the exposition ends with `# EOF`.
        assert!(text.ends_with("# EOF\n"), "{text}");
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap_or(("", ""));
            assert!(v.parse::<f64>().is_ok(), "bad sample {l:?}");
        }
    }
}
