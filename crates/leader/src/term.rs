//! One term of leadership: the leader's work runs on a runtime of its own, on threads of its
//! own, so that ending the term stops every task the work spawned, as upstream's components
//! stop by exiting their process, while the rest of `tug server` keeps running.

use std::future::Future;

use anyhow::Context;
use tokio::sync::oneshot;

/// How a term ended.
#[derive(Debug)]
pub enum TermEnd {
    /// `lost` fired first: the work was stopped and every task it spawned is gone.
    Lost,
    /// The work returned by itself.
    Finished(anyhow::Result<()>),
}

/// Runs `lead()` on a new runtime (`workers` threads; one means a current-thread runtime on
/// a thread named `name`) until it returns or `lost` completes. The runtime is dropped before
/// this returns, so no task of the term outlives it.
///
/// # Errors
/// Only if the term's thread or runtime cannot be started.
pub async fn run_term<F, Fut>(
    name: &str,
    workers: usize,
    lead: F,
    lost: impl Future<Output = ()>,
) -> anyhow::Result<TermEnd>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + 'static,
{
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (done_tx, mut done_rx) = oneshot::channel::<anyhow::Result<()>>();
    let thread_name = name.to_string();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let runtime = if workers <= 1 {
                tokio::runtime::Builder::new_current_thread().enable_all().build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name(thread_name)
                    .enable_all()
                    .build()
            };
            let result = match runtime {
                Ok(runtime) => {
                    let result = runtime.block_on(async move {
                        tokio::select! {
                            result = lead() => result,
                            _ = stop_rx => Ok(()),
                        }
                    });
                    // Dropping the runtime drops every task spawned during the term.
                    drop(runtime);
                    result
                }
                Err(err) => Err(err).context("building the leader's runtime"),
            };
            let _ = done_tx.send(result);
        })
        .with_context(|| format!("starting the {name} thread"))?;
    tokio::pin!(lost);
    tokio::select! {
        result = &mut done_rx => Ok(TermEnd::Finished(result.unwrap_or_else(|_| Err(anyhow::anyhow!("the {name} thread panicked"))))),
        () = &mut lost => {
            let _ = stop_tx.send(());
            // Wait for the runtime to be gone: only then may another term, here or in another
            // server, act.
            let _ = done_rx.await;
            Ok(TermEnd::Lost)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::Duration,
    };

    use super::*;

    /// Sets its flag when dropped: proves a spawned task was torn down.
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn losing_stops_every_task_the_term_spawned() {
        for workers in [1, 2] {
            let dropped = Arc::new(AtomicBool::new(false));
            let (started_tx, started_rx) = oneshot::channel();
            let flag = dropped.clone();
            let lead = move || async move {
                // Made before the task first runs, so that it is dropped with the task even
                // if the task never got polled.
                let guard = Dropped(flag);
                tokio::spawn(async move {
                    let _guard = guard;
                    loop {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                });
                let _ = started_tx.send(());
                std::future::pending::<anyhow::Result<()>>().await
            };
            let lost = async move {
                let _ = started_rx.await;
            };
            let end = run_term("test-term", workers, lead, lost).await.unwrap();
            assert!(matches!(end, TermEnd::Lost), "{end:?}");
            assert!(dropped.load(Ordering::SeqCst), "the spawned task outlived the term");
        }
    }

    #[tokio::test]
    async fn work_that_ends_ends_the_term() {
        let lead = || async { anyhow::bail!("watches stopped") };
        let end = run_term("test-term", 1, lead, std::future::pending()).await.unwrap();
        let TermEnd::Finished(Err(err)) = end else { panic!("{end:?}") };
        assert_eq!(err.to_string(), "watches stopped");
    }
}
