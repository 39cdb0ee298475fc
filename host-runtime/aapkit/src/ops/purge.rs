//! The deletion purge of a running server: every [`PURGE_INTERVAL`] (and once at start) the key
//! material whose ScheduleKeyDeletion window has passed is destroyed ([`Store::purge_deleted_keys`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Clock;
use aapkit_store::Store;

/// How often the server looks for keys whose deletion window has passed. Windows are whole days,
/// and an expired key is unusable before its purge (every read treats it as deleted), so hourly
/// is prompt enough.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Runs the purge until `shutdown` turns true.
pub async fn purge_loop(store: Arc<Store>, clock: Clock, every: Duration, mut shutdown: watch::Receiver<bool>) {
    // One gateway of a cluster purges (a purge is idempotent, but once is enough).
    let leadership = match store.leadership("deletion-purge") {
        Ok(l) => Arc::new(std::sync::Mutex::new(l)),
        Err(e) => {
            eprintln!("aapkit: the deletion purge is off: {e}");
            return;
        }
    };
    let mut leading = false;
    loop {
        if !super::lead(&leadership, "deletion purge", &mut leading).await {
            tokio::select! {
                _ = tokio::time::sleep(super::LEADER_RETRY.min(every)) => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        let now = clock();
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.purge_deleted_keys(now)).await {
            Ok(Ok(r)) => {
                for k in &r.purged_keys {
                    eprintln!("aapkit: purged the key material of {k} (deletion window passed)");
                }
            }
            Ok(Err(e)) => eprintln!("aapkit: the deletion purge failed: {e}"),
            Err(e) => eprintln!("aapkit: the deletion purge failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}
