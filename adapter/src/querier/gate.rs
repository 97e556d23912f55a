//! How many `/api/v1` evaluations run at once (`--query-concurrency`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// No slot came free within the wait: the API answers 503 `unavailable`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "too many queries: {slots} are being evaluated (--query-concurrency; {long_slots} of them with more than {steps} steps) and none finished within {wait:?}",
    steps = QueryGate::LONG_STEPS
)]
pub struct Busy {
    slots: usize,
    long_slots: usize,
    wait: Duration,
}

/// At most `slots` `/api/v1` evaluations at once (`--query-concurrency`, Prometheus'
/// `--query.max-concurrency`), and at most half of them (at least one) long ones: more than
/// [`QueryGate::LONG_STEPS`] evaluation steps. Selectors are bounded by the samples limit, so
/// only many steps (subqueries, range queries) make a query run up to the timeout; the other
/// half of the slots stays free for short queries however many long ones arrive. A request
/// waits up to `wait` for its slot(s), then gets 503 `unavailable`, so a flood of expensive
/// queries queues neither without bound nor in memory.
#[derive(Debug)]
pub struct QueryGate {
    slots: Arc<Semaphore>,
    long: Arc<Semaphore>,
    size: usize,
    long_size: usize,
    wait: Duration,
}

/// The slots one evaluation holds; dropping it frees them.
#[derive(Debug)]
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    _long: Option<OwnedSemaphorePermit>,
}

impl QueryGate {
    /// Evaluation steps above which a query takes a long-query slot as well.
    pub const LONG_STEPS: u64 = 10_000;

    /// A gate of `slots` (at least one) where a request waits up to `wait`.
    pub fn new(slots: usize, wait: Duration) -> Self {
        let size = slots.max(1);
        let long_size = (size / 2).max(1);
        Self {
            slots: Arc::new(Semaphore::new(size)),
            long: Arc::new(Semaphore::new(long_size)),
            size,
            long_size,
            wait,
        }
    }

    /// Slots for an evaluation of `steps` steps, held until it ends (also when the client has
    /// gone).
    pub async fn admit(&self, steps: u64) -> Result<Admission, Busy> {
        self.admit_within(steps, self.wait).await
    }

    /// An admission for `steps` steps in place of `admission`, which was for a short
    /// evaluation: the same one when `steps` is short, else the short slot is given back and
    /// a long-query slot and a slot are waited for (so a waiting long query never holds a slot
    /// short ones could use). Blocks: call it off the async workers.
    /// The wait counts from `arrived`, when the request first asked for a slot: a long query
    /// waits no longer in all than a short one.
    pub fn widen(
        &self,
        admission: Admission,
        steps: u64,
        arrived: Instant,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Admission, Busy> {
        if steps <= Self::LONG_STEPS {
            return Ok(admission);
        }
        drop(admission);
        let left = self.wait.saturating_sub(arrived.elapsed());
        runtime.block_on(self.admit_within(steps, left))
    }

    async fn admit_within(&self, steps: u64, wait: Duration) -> Result<Admission, Busy> {
        let acquire = async {
            let long = if steps > Self::LONG_STEPS {
                Some(self.long.clone().acquire_owned().await?)
            } else {
                None
            };
            let slot = self.slots.clone().acquire_owned().await?;
            Ok::<_, tokio::sync::AcquireError>(Admission {
                _slot: slot,
                _long: long,
            })
        };
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(admission)) => Ok(admission),
            _ => Err(Busy {
                slots: self.size,
                long_slots: self.long_size,
                wait: self.wait,
            }),
        }
    }
}
