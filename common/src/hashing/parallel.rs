//! A small work queue over scoped threads: each worker takes the next job, the first error
//! stops the others, and per-worker state (a read buffer) is created once per thread.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `f(state, index, job)` over `jobs` on up to `threads` threads. Returns the results
/// with their job index (in completion order), or the first error.
pub fn try_map<T: Sync, S, R: Send, E: Send>(
    jobs: &[T],
    threads: usize,
    state: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &T) -> Result<R, E> + Sync,
) -> Result<Vec<(usize, R)>, E> {
    let threads = threads.max(1).min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(jobs.len()));
    let first_error: Mutex<Option<E>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut st = state();
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return };
                    match f(&mut st, i, job) {
                        Ok(r) => {
                            if let Ok(mut v) = results.lock() {
                                v.push((i, r));
                            }
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    match first_error.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(results.into_inner().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_all_jobs_or_returns_the_first_error() {
        let jobs: Vec<u32> = (0..100).collect();
        let mut out = super::try_map(&jobs, 4, || (), |_, i, j| Ok::<_, ()>((i, j * 2))).unwrap_or_default();
        out.sort();
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|(i, (k, v))| i == k && *v == jobs[*i] * 2));
        let e = super::try_map(&jobs, 3, || (), |_, _, j| if *j == 42 { Err(*j) } else { Ok(()) });
        assert_eq!(e.err(), Some(42));
    }
}
