//! Client-key expiry notices: 180, 90, 30 and 7 days before a key's NotAfter (Alibaba's alert
//! thresholds), once per key and threshold.
//!
//! The checker is a plain function of the store and an injected time, run by the server at start
//! and then periodically. The `expiry_notices` table is the dedupe record: a notice is announced
//! only by the run that inserted its row. When a run finds several thresholds crossed at once (a
//! key created with 20 days left, or a server that was down for months), only the tightest is
//! announced; the others are recorded as `Superseded` so they never fire later.

use std::sync::Arc;

use serde_json::json;

use super::metrics::{Metrics, WebhookResult};
use super::webhook::{post_json, WebhookConfig};
use aapkit_store::{format_time, ExpiryNotice, Store, StoreError};
use aapkit_store::{DELIVERY_DELIVERED, DELIVERY_FAILED, DELIVERY_NONE, DELIVERY_PENDING, DELIVERY_SUPERSEDED};

/// Days before NotAfter at which a notice fires.
pub const THRESHOLDS_DAYS: [i64; 4] = [180, 90, 30, 7];

pub struct ExpiryChecker {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub webhook: Option<WebhookConfig>,
    /// Named in the webhook payload.
    pub instance_id: String,
}

impl ExpiryChecker {
    /// Records and announces (on stderr and in the metrics) the notices due at `now`; returns the
    /// announced ones. Webhook delivery is separate ([`ExpiryChecker::deliver`]): the returned
    /// notices are `Pending` when a webhook is configured.
    pub fn check(&self, now: i64) -> Result<Vec<ExpiryNotice>, StoreError> {
        let mut announced = Vec::new();
        for key in self.store.client_key_expiries()? {
            let left = key.not_after - now;
            if left < 0 {
                continue; // expired: the gateway already refuses it
            }
            let crossed: Vec<i64> = THRESHOLDS_DAYS.iter().copied().filter(|t| left <= t * 86_400).collect();
            let Some(tightest) = crossed.iter().copied().min() else {
                continue;
            };
            let days = aapkit_store::days_to_expiry(key.not_after, now);
            for t in crossed {
                let delivery = if t != tightest {
                    DELIVERY_SUPERSEDED
                } else if self.webhook.is_some() {
                    DELIVERY_PENDING
                } else {
                    DELIVERY_NONE
                };
                let notice = ExpiryNotice {
                    client_key_id: key.client_key_id.clone(),
                    aap_name: key.aap_name.clone(),
                    threshold_days: t,
                    not_after: key.not_after,
                    days_to_expiry: days,
                    notified_at: now,
                    delivery: delivery.to_owned(),
                    delivery_attempts: 0,
                    last_error: String::new(),
                };
                if self.store.record_expiry_notice(&notice)? && t == tightest {
                    eprintln!(
                        "aapkit: notice: client key {} of AAP {} expires in {days} day(s), at {} ({t}-day notice). \
                         Rotate it: create a second client key, switch the application to it, check with \
                         `aapkit audit query --client-key {}` that the old key is idle, then delete it.",
                        key.client_key_id,
                        key.aap_name,
                        format_time(key.not_after),
                        key.client_key_id
                    );
                    self.metrics.expiry_notice(t);
                    announced.push(notice);
                }
            }
        }
        Ok(announced)
    }

    /// The webhook payload of a notice.
    pub fn payload(&self, n: &ExpiryNotice) -> String {
        json!({
            "Event": "ClientKeyExpiring",
            "InstanceId": self.instance_id,
            "ClientKeyId": n.client_key_id,
            "AapName": n.aap_name,
            "NotAfter": format_time(n.not_after),
            "DaysToExpiry": n.days_to_expiry,
            "ThresholdDays": n.threshold_days,
            "NotifiedAt": format_time(n.notified_at),
        })
        .to_string()
    }

    /// POSTs a notice to the webhook, retrying with backoff; every attempt's outcome is recorded
    /// on the notice (`Delivered`, `Pending` with the error, finally `Failed`). Returns whether
    /// it was delivered.
    pub async fn deliver(self: Arc<Self>, n: ExpiryNotice) -> bool {
        let Some(cfg) = self.webhook.clone() else {
            return false;
        };
        let body = self.payload(&n);
        let first = u32::try_from(n.delivery_attempts).unwrap_or(0) + 1;
        for attempt in first..=cfg.max_attempts.max(first) {
            if attempt > 1 {
                tokio::time::sleep(cfg.backoff(attempt)).await;
            }
            let result = post_json(&cfg, &body).await;
            let (state, error) = match &result {
                Ok(()) => (DELIVERY_DELIVERED, String::new()),
                Err(e) if attempt >= cfg.max_attempts => (DELIVERY_FAILED, e.to_string()),
                Err(e) => (DELIVERY_PENDING, e.to_string()),
            };
            let store = self.store.clone();
            let (id, t) = (n.client_key_id.clone(), n.threshold_days);
            let err_text = error.clone();
            let recorded =
                tokio::task::spawn_blocking(move || store.record_notice_delivery(&id, t, state, &err_text)).await;
            if let Ok(Err(e)) | Err(e) = recorded.map_err(|e| StoreError::Corrupt(e.to_string())) {
                eprintln!("aapkit: recording the webhook delivery of {} failed: {e}", n.client_key_id);
            }
            match result {
                Ok(()) => {
                    self.metrics.webhook_result(WebhookResult::Delivered);
                    return true;
                }
                Err(e) => {
                    self.metrics.webhook_result(WebhookResult::FailedAttempt);
                    eprintln!(
                        "aapkit: expiry webhook for {} (attempt {attempt} of {}) failed: {e}",
                        n.client_key_id, cfg.max_attempts
                    );
                }
            }
        }
        self.metrics.webhook_result(WebhookResult::GivenUp);
        false
    }
}
