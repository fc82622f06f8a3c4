//! The CPU backend's worker threads, and the parallel loops its ops are written with.
//!
//! Written by hand rather than taken from rayon (which the backend used before) because a
//! decode step is about 250 short parallel regions (every mat-vec, every attention layer), each
//! a few microseconds of work: rayon hands each one to workers that have been yielding or asleep
//! since the last, and that hand-off was 8-10 % of a small model's decode on 2 threads. Here,
//! as in ggml's thread pool, workers spin on the job counter between regions (then yield, then
//! sleep once the model has gone quiet), and a region costs one atomic store to start and one
//! counter to finish. The calling thread takes tasks too.
//!
//! Tasks are claimed one index at a time from a counter tagged with the job's number, so a
//! worker that wakes late for a job that has ended can never claim from it, and the job's
//! closure, which borrows the caller's stack, is only called while its job is open.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A job's closure, lifetime erased (see `Pool::run`).
type Task = dyn Fn(usize) + Sync;

/// How long an idle worker spins, then yields, before it sleeps: longer than the serial work
/// between two regions of a decode step, shorter than a pause a user would notice on the CPU
/// meter.
const SPIN: Duration = Duration::from_micros(50);
const YIELD: Duration = Duration::from_millis(2);

/// The low half of `Shared::state` when no index can be claimed.
const CLOSED: u64 = u32::MAX as u64;

struct Shared {
    /// The job's number (high 32 bits) and its next unclaimed task index (low 32 bits).
    state: AtomicU64,
    n_tasks: AtomicUsize,
    /// A thin pointer to the caller's `&Task` (a fat pointer), valid while the job is open.
    task: AtomicUsize,
    /// Tasks of the open job that have returned.
    done: AtomicUsize,
    /// The first panic of the open job's tasks (on any thread), rethrown on the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    sleepers: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
}

/// Worker threads that run one job at a time: `run(n, f)` calls `f(0..n)` across them and the
/// caller, and returns when every call has returned.
pub struct Pool {
    shared: Arc<Shared>,
    threads: usize,
    workers: Vec<JoinHandle<()>>,
    /// One job at a time, whichever thread submits it.
    submit: Mutex<()>,
}

thread_local! {
    /// Set on a pool's workers, and on a caller while its job runs: a parallel loop inside a
    /// task runs serially (the workers are busy with the outer one).
    static IN_JOB: Cell<bool> = const { Cell::new(false) };
    /// The pool the loops on this thread use (`Pool::install`); the global pool otherwise.
    static CURRENT: Cell<*const Pool> = const { Cell::new(std::ptr::null()) };
}

impl Pool {
    /// `threads` threads in all: the caller of `run` and `threads - 1` workers.
    pub fn new(threads: usize, name: &str) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let mut pool = Pool::serial();
        pool.threads = threads;
        for i in 1..threads {
            let shared = Arc::clone(&pool.shared);
            // On an error, dropping `pool` stops the workers already started.
            let worker = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || work(&shared))?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// A pool of the calling thread alone: its loops run serially.
    fn serial() -> Pool {
        let shared = Arc::new(Shared {
            state: AtomicU64::new(CLOSED),
            n_tasks: AtomicUsize::new(0),
            task: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panic: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        Pool { shared, threads: 1, workers: Vec::new(), submit: Mutex::new(()) }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on this thread with the parallel loops inside it using this pool.
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(*const Pool);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.replace(self)));
        f()
    }

    /// Calls `f(i)` for every `i` in `0..n_tasks`, each once, on the workers and this thread;
    /// returns when all have returned. A panic in `f` is rethrown here, after the others finish.
    pub fn run(&self, n_tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        if n_tasks <= 1 || self.threads == 1 || IN_JOB.with(Cell::get) {
            (0..n_tasks).for_each(f);
            return;
        }
        assert!(n_tasks < CLOSED as usize, "a job of {n_tasks} tasks: split it");
        let _one_job = self.submit.lock().unwrap_or_else(|e| e.into_inner());
        let (s, n) = (&*self.shared, n_tasks);
        // SAFETY: only the lifetime is erased. Workers call through this pointer only for a
        // task index they claimed while this job was open (`claim_and_run`), and this function
        // does not return (nor unwind) before every claimed task has returned and the job is
        // closed, so `f` outlives every call.
        let task: &Task = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static Task>(f) };
        let task_ref: &&Task = &task;
        s.n_tasks.store(n, Ordering::Relaxed);
        s.task.store(task_ref as *const &Task as usize, Ordering::Relaxed);
        s.done.store(0, Ordering::Relaxed);
        let job = (s.state.load(Ordering::Relaxed) >> 32).wrapping_add(1) & 0xFFFF_FFFF;
        // SeqCst with the sleepers' count (see `sleep_until_job`): either a worker going to
        // sleep sees this job, or this thread sees it asleep and wakes it.
        s.state.store(job << 32, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        IN_JOB.with(|c| c.set(true));
        claim_and_run(s, job);
        IN_JOB.with(|c| c.set(false));
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) < n {
            // A worker descheduled mid-task (more threads than cores) needs the core back.
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        s.state.store((job << 32) | CLOSED, Ordering::Release);
        if let Some(payload) = s.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
            panic::resume_unwind(payload);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let _g = self.shared.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// Claims task indices of job `job` until none is left, running each. A task that panics
/// counts as done, its panic kept for the caller, and claiming goes on: the caller takes every
/// task no worker has, so a job never waits on a worker that has not joined it.
fn claim_and_run(s: &Shared, job: u64) {
    loop {
        let state = s.state.load(Ordering::Acquire);
        let index = state & 0xFFFF_FFFF;
        // The job's size and closure, as published before its state (Acquire above); they may
        // already be the next job's if this one has closed, in which case the claim below fails.
        if state >> 32 != job || index >= s.n_tasks.load(Ordering::Relaxed) as u64 {
            return;
        }
        let task = s.task.load(Ordering::Relaxed);
        if s.state.compare_exchange_weak(state, state + 1, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            continue;
        }
        // SAFETY: the claim succeeded, so job `job` was open with `task` its closure and this
        // index unfinished: `Pool::run` waits for it before closing the job and returning.
        let f: &Task = unsafe { *(task as *const &Task) };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(index as usize))) {
            s.panic.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(payload);
        }
        s.done.fetch_add(1, Ordering::Release);
    }
}

/// A worker: waits for each job in turn (the first is job 1) and takes its tasks.
fn work(s: &Shared) {
    IN_JOB.with(|c| c.set(true));
    let mut seen = 0;
    while let Some(job) = wait_for_job(s, seen) {
        seen = job;
        claim_and_run(s, job);
    }
}

/// The number of the first job after `seen`, or `None` at shutdown: spinning, then yielding,
/// then asleep.
fn wait_for_job(s: &Shared, seen: u64) -> Option<u64> {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        if s.shutdown.load(Ordering::Relaxed) {
            return None;
        }
        let job = s.state.load(Ordering::Acquire) >> 32;
        if job != seen {
            return Some(job);
        }
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(64) {
            std::hint::spin_loop();
            continue;
        }
        let idle = start.elapsed();
        if idle < SPIN {
            std::hint::spin_loop();
        } else if idle < YIELD {
            std::thread::yield_now();
        } else {
            sleep_until_job(s, seen);
        }
    }
}

fn sleep_until_job(s: &Shared, seen: u64) {
    let mut guard = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
    s.sleepers.fetch_add(1, Ordering::SeqCst);
    while s.state.load(Ordering::SeqCst) >> 32 == seen && !s.shutdown.load(Ordering::SeqCst) {
        guard = s.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
    }
    s.sleepers.fetch_sub(1, Ordering::SeqCst);
}

/// The pool the parallel loops on this thread use: the one installed (`Pool::install`), else a
/// process-wide one with a thread per core (or none, if threads cannot be started).
fn with_current<R>(f: impl FnOnce(&Pool) -> R) -> R {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        static GLOBAL: OnceLock<Pool> = OnceLock::new();
        f(GLOBAL
            .get_or_init(|| Pool::new(super::default_threads(), "rocmforge-cpu").unwrap_or_else(|_| Pool::serial())))
    } else {
        // SAFETY: `install` set it from a live `&Pool` and restores the previous value before
        // that borrow ends; it is only read on this thread.
        f(unsafe { &*current })
    }
}

/// Threads the current pool runs loops on.
pub fn current_threads() -> usize {
    with_current(Pool::threads)
}

/// Tasks per thread a loop is cut into at most: enough to even out the threads, few enough
/// that claiming them costs nothing (a claim is a compare-exchange on a line both cores write).
const TASKS_PER_THREAD: usize = 8;

/// `f(i, chunk)` for the `chunk`-long pieces of `data` (the last may be shorter), in parallel:
/// consecutive pieces go to a task together when there are many.
pub fn for_each_chunk_mut<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let chunk = chunk.max(1);
    let (len, base) = (data.len(), SharedMut(data.as_mut_ptr()));
    let n_chunks = len.div_ceil(chunk);
    with_current(|pool| {
        let per_task = n_chunks.div_ceil(pool.threads() * TASKS_PER_THREAD).max(1);
        pool.run(n_chunks.div_ceil(per_task), &|task| {
            for i in task * per_task..((task + 1) * per_task).min(n_chunks) {
                let start = i * chunk;
                let end = (start + chunk).min(len);
                // SAFETY: `run` calls each task once and tasks take disjoint runs of pieces, so
                // the pieces handed out are disjoint, and all within `data`, which stays
                // mutably borrowed until `run` returns.
                let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
                f(i, piece);
            }
        })
    });
}

/// `for_each_chunk_mut` with a fallible `f`: the first error (by piece) is returned once all
/// pieces have run.
pub fn try_for_each_chunk_mut<T: Send, E: Send>(
    data: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let first_error: Mutex<Option<(usize, E)>> = Mutex::new(None);
    for_each_chunk_mut(data, chunk, |i, piece| {
        if let Err(e) = f(i, piece) {
            let mut slot = first_error.lock().unwrap_or_else(|e| e.into_inner());
            if slot.as_ref().is_none_or(|(j, _)| i < *j) {
                *slot = Some((i, e));
            }
        }
    });
    match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// A pointer that tasks on other threads may offset into disjoint pieces.
struct SharedMut<T>(*mut T);

impl<T> Clone for SharedMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedMut<T> {}

impl<T> SharedMut<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

// SAFETY: only used by `for_each_chunk_mut`, whose tasks write disjoint pieces of a `&mut [T]`
// with `T: Send`.
unsafe impl<T: Send> Sync for SharedMut<T> {}
unsafe impl<T: Send> Send for SharedMut<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_runs_once_across_many_jobs() {
        let pool = Pool::new(3, "test").expect("threads");
        for n in [0, 1, 2, 3, 7, 64, 1000] {
            let counts: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..50 {
                pool.run(n, &|i| {
                    counts[i].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 50), "n = {n}");
        }
    }

    #[test]
    fn jobs_after_the_workers_fell_asleep_still_run() {
        let pool = Pool::new(2, "test").expect("threads");
        let total = AtomicUsize::new(0);
        pool.run(8, &|i| {
            total.fetch_add(i, Ordering::Relaxed);
        });
        std::thread::sleep(YIELD * 3);
        pool.run(8, &|i| {
            total.fetch_add(i, Ordering::Relaxed);
        });
        assert_eq!(total.load(Ordering::Relaxed), 2 * 28);
    }

    #[test]
    fn chunks_cover_the_slice_and_nested_loops_run_serially() {
        let pool = Pool::new(2, "test").expect("threads");
        let mut data = vec![0usize; 1001];
        pool.install(|| {
            for_each_chunk_mut(&mut data, 100, |i, piece| {
                let mut inner = vec![0usize; piece.len()];
                for_each_chunk_mut(&mut inner, 7, |_, p| p.iter_mut().for_each(|v| *v = 1));
                for (v, w) in piece.iter_mut().zip(inner) {
                    *v = i + w;
                }
            })
        });
        assert!(data.iter().enumerate().all(|(k, &v)| v == k / 100 + 1));
    }

    #[test]
    fn the_first_error_by_piece_is_returned() {
        let mut data = vec![0u8; 50];
        let r = try_for_each_chunk_mut(&mut data, 5, |i, _| if i % 3 == 2 { Err(i) } else { Ok(()) });
        assert_eq!(r, Err(2));
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_pool_goes_on() {
        let pool = Pool::new(2, "test").expect("threads");
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.run(16, &|i| assert!(i != 11, "task 11"));
        }));
        assert!(r.is_err());
        let ran = AtomicUsize::new(0);
        pool.run(16, &|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 16);
    }
}
