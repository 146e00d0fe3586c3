//! Group commit for the dispatcher's bookkeeping.
//!
//! Every delivery ends in a small write (marked sent, an order's ERP state). On the
//! embedded ledger there is one writer and, by default, one disk flush per commit, so a
//! commit per delivery would take the writer from order acceptance as often as orders
//! arrive. Here the first caller starts a writer task that commits whatever has queued,
//! and keeps committing while more queues; every caller waits for the commit that carried
//! its item. Under load one commit carries many items; alone, an item is written at once.
//!
//! Written by hand: it is a few dozen lines over a mutex and oneshot channels, and the
//! batching crates available either own a runtime of their own or flush on a timer,
//! which would delay a lone write.

use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use tokio::sync::oneshot;

type Flush<T> = Box<dyn Fn(Vec<T>) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

pub struct GroupCommit<T> {
    flush: Flush<T>,
    queue: Mutex<Queue<T>>,
}

struct Queue<T> {
    items: Vec<(T, oneshot::Sender<Result<(), String>>)>,
    writing: bool,
}

impl<T: Send + 'static> GroupCommit<T> {
    /// `flush` writes a batch in one transaction.
    pub fn new(
        flush: impl Fn(Vec<T>) -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            flush: Box::new(flush),
            queue: Mutex::new(Queue {
                items: Vec::new(),
                writing: false,
            }),
        })
    }

    /// Writes `item` together with whatever else is waiting; returns once it is committed.
    pub async fn write(self: &Arc<Self>, item: T) -> Result<(), String> {
        let (done, outcome) = oneshot::channel();
        let start_writer = {
            let mut queue = self.lock();
            queue.items.push((item, done));
            !std::mem::replace(&mut queue.writing, true)
        };
        if start_writer {
            // A task of its own, so that a caller giving up (a timeout around a delivery)
            // never leaves the others' items unwritten.
            let me = self.clone();
            tokio::spawn(async move { me.drain().await });
        }
        outcome
            .await
            .unwrap_or_else(|_| Err("the writer stopped".to_owned()))
    }

    async fn drain(&self) {
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.items.is_empty() {
                    queue.writing = false;
                    return;
                }
                std::mem::take(&mut queue.items)
            };
            let (items, waiting): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
            let outcome = (self.flush)(items).await;
            for w in waiting {
                let _ = w.send(outcome.clone());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<T>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_writes_share_commits_and_each_waits_for_its_own() {
        let commits = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let seen = commits.clone();
        let group = GroupCommit::new(move |items: Vec<u32>| {
            let seen = seen.clone();
            Box::pin(async move {
                // Long enough for the other writers to queue behind the first commit.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                seen.lock().unwrap().push(items);
                Ok(())
            })
        });
        let writers: Vec<_> = (0..50)
            .map(|i| {
                let group = group.clone();
                tokio::spawn(async move { group.write(i).await })
            })
            .collect();
        for w in writers {
            assert_eq!(w.await.unwrap(), Ok(()));
        }
        let commits = commits.lock().unwrap();
        let mut written: Vec<u32> = commits.iter().flatten().copied().collect();
        written.sort_unstable();
        assert_eq!(
            written,
            (0..50).collect::<Vec<_>>(),
            "every item exactly once"
        );
        assert!(
            commits.len() < 50,
            "{} commits for 50 concurrent items",
            commits.len()
        );
    }

    #[tokio::test]
    async fn a_failed_commit_is_reported_to_every_item_it_carried() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let group = GroupCommit::new(move |_: Vec<u32>| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 0 {
                    Err("disk full".to_owned())
                } else {
                    Ok(())
                }
            })
        });
        assert_eq!(group.write(1).await, Err("disk full".to_owned()));
        assert_eq!(
            group.write(2).await,
            Ok(()),
            "the next commit is tried afresh"
        );
    }
}
