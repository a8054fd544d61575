//! Running a step on several threads while keeping its results in input order, so that the
//! output is the same bytes for any `--jobs` (docs/ci.md, "How fast").

use std::collections::BTreeMap;
use std::sync::{Mutex, mpsc};

/// Runs `work` on every item that `produce` hands over, on `jobs` threads, and hands the
/// results to `sink` in the order the items were produced. `produce` and `sink` run on the
/// calling thread; at most about `3 × jobs` items are in flight, so memory does not grow with
/// the input. With one job nothing is spawned.
pub fn ordered<I: Send, O: Send>(
    jobs: usize,
    produce: impl FnOnce(&mut dyn FnMut(I)),
    work: impl Fn(I) -> O + Sync,
    mut sink: impl FnMut(O),
) {
    if jobs <= 1 {
        produce(&mut |i| sink(work(i)));
        return;
    }
    let (tx, rx) = mpsc::sync_channel::<(u64, I)>(jobs * 2);
    let rx = Mutex::new(rx);
    let (otx, orx) = mpsc::channel::<(u64, O)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let (rx, otx, work) = (&rx, otx.clone(), &work);
            scope.spawn(move || {
                loop {
                    // The lock is held only while taking the next item.
                    let next = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, item)) = next else { return };
                    if otx.send((seq, work(item))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(otx);
        let mut order = Order { next: 0, pending: BTreeMap::new() };
        let mut seq = 0u64;
        produce(&mut |item| {
            while let Ok((s, o)) = orx.try_recv() {
                order.add(s, o, &mut sink);
            }
            // Blocks while the queue is full: the workers drain it.
            if tx.send((seq, item)).is_ok() {
                seq += 1;
            }
        });
        drop(tx);
        for (s, o) in orx.iter() {
            order.add(s, o, &mut sink);
        }
    });
}

struct Order<O> {
    next: u64,
    pending: BTreeMap<u64, O>,
}

impl<O> Order<O> {
    fn add(&mut self, seq: u64, o: O, sink: &mut impl FnMut(O)) {
        self.pending.insert(seq, o);
        while let Some(o) = self.pending.remove(&self.next) {
            sink(o);
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_input_order_for_any_number_of_jobs() {
        for jobs in [1, 2, 3, 8] {
            let mut got = Vec::new();
            ordered(
                jobs,
                |emit| {
                    for i in 0..500u64 {
                        emit(i);
                    }
                },
                |i| {
                    // Uneven work, so that results come back out of order.
                    if i % 7 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    i * 2
                },
                |o| got.push(o),
            );
            assert_eq!(got, (0..500).map(|i| i * 2).collect::<Vec<_>>(), "jobs {jobs}");
        }
    }
}
