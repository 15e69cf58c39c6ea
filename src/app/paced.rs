//! Writes to AWS paced by `core::pacing::Pacer`: full speed until AWS throttles, then no faster
//! than the bucket refills, a refused call retried (never lost), and the cost reported. The
//! adapter sends these writes without the SDK's own retries, so that no retry the pacer did not
//! allow reaches AWS.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::core::pacing::{MAX_REFUSALS_IN_ROW, Pacer, Throttling};
use crate::ports::{CloudError, ErrorKind};

/// One bucket's pacer and the monotonic clock it is read with.
pub struct Paced {
    pacer: Pacer,
    start: Instant,
}

impl Paced {
    /// A bucket refilled at `rate` tokens a second, calls of at most `batch` tokens.
    pub fn new(rate: f64, batch: usize) -> Paced {
        Paced {
            pacer: Pacer::new(rate, batch),
            start: Instant::now(),
        }
    }

    pub fn cost(&self) -> Throttling {
        self.pacer.cost()
    }

    /// One call costing one token (an IAM write), retried while AWS throttles it.
    pub async fn one<F, Fut>(&mut self, call: F) -> Result<(), CloudError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), CloudError>>,
    {
        let mut waited = Duration::ZERO;
        loop {
            waited += self.sleep_for(1).await;
            // AWS takes the tokens when the call arrives: counted from when it was sent.
            let sent = self.start.elapsed();
            match call().await {
                Ok(()) => {
                    self.pacer.accepted(1, sent, waited);
                    return Ok(());
                }
                Err(e) if e.kind == ErrorKind::Throttled => {
                    waited = self.refused(waited, &e).await?;
                }
                // Refused for another reason: the call still counted against the bucket.
                Err(e) => {
                    self.pacer.accepted(1, sent, waited);
                    return Err(e);
                }
            }
        }
    }

    /// Calls `call` on `ids` in chunks of the pacer's batch (one token per id), one result per id
    /// in order. A chunk AWS throttles is retried in the smaller chunks the pacer then allows; a
    /// chunk that fails for another reason is retried id by id, so one bad id fails alone.
    pub async fn each<'a, F, Fut>(
        &mut self,
        ids: &'a [String],
        call: F,
    ) -> Vec<Result<(), CloudError>>
    where
        F: Fn(&'a [String]) -> Fut,
        Fut: Future<Output = Result<(), CloudError>>,
    {
        let mut results = Vec::with_capacity(ids.len());
        let mut waited = Duration::ZERO;
        while results.len() < ids.len() {
            let at = results.len();
            let n = self.pacer.batch().min(ids.len() - at);
            let chunk = &ids[at..at + n];
            waited += self.sleep_for(n).await;
            let sent = self.start.elapsed();
            match call(chunk).await {
                Ok(()) => {
                    self.pacer.accepted(n, sent, waited);
                    waited = Duration::ZERO;
                    results.extend(std::iter::repeat_n(Ok(()), n));
                }
                Err(e) if e.kind == ErrorKind::Throttled => match self.refused(waited, &e).await {
                    Ok(w) => waited = w,
                    Err(given_up) => {
                        waited = Duration::ZERO;
                        results.extend(std::iter::repeat_n(Err(given_up), n));
                    }
                },
                Err(e) if n == 1 => {
                    self.pacer.accepted(1, sent, std::mem::take(&mut waited));
                    results.push(Err(e));
                }
                Err(e) => {
                    self.pacer.accepted(n, sent, std::mem::take(&mut waited));
                    tracing::warn!(error = %e, ids = n, "a call on several ids failed, retrying id by id");
                    for id in chunk {
                        let one = std::slice::from_ref(id);
                        results.push(self.one(|| call(one)).await);
                    }
                }
            }
        }
        results
    }

    /// Sleeps until the bucket allows a call of `n` tokens; how long it slept.
    async fn sleep_for(&self, n: usize) -> Duration {
        let wait = self.pacer.wait(n, self.start.elapsed());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// After a throttled call: the wait it costs (slept here), or the error that gives it up.
    async fn refused(&mut self, waited: Duration, e: &CloudError) -> Result<Duration, CloudError> {
        match self
            .pacer
            .refused(self.start.elapsed(), waited, rand::random::<f64>())
        {
            Some(wait) => {
                tracing::info!(
                    operation = e.operation,
                    retry_in_ms = wait.as_millis() as u64,
                    refusals = self.pacer.cost().refusals,
                    "throttled by AWS: pacing"
                );
                tokio::time::sleep(wait).await;
                Ok(wait)
            }
            None => Err(CloudError {
                message: format!(
                    "{} (throttled {MAX_REFUSALS_IN_ROW} times in a row; given up)",
                    e.message
                ),
                ..e.clone()
            }),
        }
    }
}
