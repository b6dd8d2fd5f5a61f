//! Gates in flight: health watches and smoke runs that a pass starts and a
//! background task finishes, so one slow gate never holds up another road.
//!
//! Like a Kubernetes controller that requeues instead of sleeping, a pass
//! only *starts* a gate (its pending status on the forge says so, with its
//! deadline) and moves on to other roads. The gate's task records the verdict
//! when it comes and wakes the loop; the next pass decides from that verdict.
//! Which gates run is an input of the decisions (`Snapshot::gates_running`),
//! like the clock: after a restart nothing runs, so the next pass starts the
//! gate again (without a second deploy, which is already on the record).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The gates running now, by key (see `Action::gate_key`).
pub struct InFlight {
    running: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    /// Counts finished gates; waiters watch it change.
    finished: watch::Sender<u64>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self {
            running: Mutex::new(HashMap::new()),
            finished: watch::channel(0).0,
        }
    }
}

/// Removes its key when the gate's task ends, however it ends.
struct Finish {
    flight: Arc<InFlight>,
    key: String,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if let Ok(mut r) = self.flight.running.lock() {
            r.remove(&self.key);
        }
        self.flight.finished.send_modify(|n| *n += 1);
    }
}

impl InFlight {
    /// The keys of the gates running now.
    pub fn keys(&self) -> BTreeSet<String> {
        self.running
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.running.lock().map(|r| r.is_empty()).unwrap_or(true)
    }

    /// Start `gate` under `key`, unless a gate with that key runs already
    /// (then `false`: one watch per change, however many passes ask).
    pub fn start<F>(self: &Arc<Self>, key: String, gate: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Ok(mut running) = self.running.lock() else {
            return false;
        };
        if running.contains_key(&key) {
            return false;
        }
        // The lock is held until the handle is in the map, so a gate that
        // ends at once still finds its key to remove.
        let finish = Finish {
            flight: Arc::clone(self),
            key: key.clone(),
        };
        let task = tokio::spawn(async move {
            let _finish = finish;
            gate.await;
        });
        running.insert(key, task.abort_handle());
        true
    }

    /// A receiver that changes each time a gate finishes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.finished.subscribe()
    }

    /// Stop every gate (shutdown): the next process starts them again.
    pub fn abort_all(&self) {
        if let Ok(r) = self.running.lock() {
            for handle in r.values() {
                handle.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gate_runs_once_per_key_and_its_key_goes_when_it_ends() {
        let flight = Arc::new(InFlight::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut finished = flight.subscribe();
        assert!(flight.start("ci 1".into(), async move {
            let _ = rx.await;
        }));
        assert!(
            !flight.start("ci 1".into(), async {}),
            "a second start of the same gate is refused"
        );
        assert_eq!(flight.keys(), BTreeSet::from(["ci 1".to_string()]));
        let _ = tx.send(());
        finished.changed().await.expect("the gate reports its end");
        assert!(flight.is_empty());
        assert!(flight.start("ci 1".into(), async {}), "and may run again");
    }

    #[tokio::test]
    async fn an_aborted_gate_leaves_no_key_behind() {
        let flight = Arc::new(InFlight::default());
        let mut finished = flight.subscribe();
        flight.start("slow".into(), std::future::pending());
        flight.abort_all();
        finished.changed().await.expect("abort ends the gate");
        assert!(flight.is_empty());
    }
}
