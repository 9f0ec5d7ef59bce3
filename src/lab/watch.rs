//! Watching byte counters move: stall detection, the live progress line, and
//! samples for a plot.
//!
//! An experiment's threads add to atomic counters after every `send(2)` and
//! `recv(2)`; the main thread calls [`watch`], which samples them until the
//! experiment says it is done or until nothing has moved for the stall
//! window. This is how a hang the book predicts is *detected* instead of
//! waited out.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOpts {
    /// A stall is declared after this long without any counter moving: the
    /// backstop when the cycle test below does not apply.
    pub stall: Duration,
    /// A stall is declared when the cycle test has held this long without
    /// any counter moving; `None`: the cycle test is only recorded (in
    /// [`Pause::cycle_ms`]), not used to declare a stall.
    pub confirm: Option<Duration>,
    /// Time between samples.
    pub every: Duration,
    /// Draw a live progress line on stderr. It is drawn only if stderr is a
    /// terminal: nothing of it reaches a pipe or a file.
    pub progress: bool,
    /// Keep every sample, for a plot.
    pub record: bool,
}

/// How a watch went, in ms; part of an experiment's measurements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Timing {
    /// True if the counters stopped moving for the stall window before the
    /// work finished.
    pub stalled: bool,
    /// When a counter last moved, in ms since the watch began: where the
    /// stall began, if there was one.
    pub last_progress_ms: u64,
    /// The longest time without movement before the end (or before the
    /// stall), in ms: how close a slow moment came to a false stall.
    pub longest_pause_ms: u64,
    /// How long the watch lasted, in ms.
    pub elapsed_ms: u64,
    /// What declared the stall; `None` if there was no stall.
    pub detected_by: Option<Detector>,
    /// Every pause of more than 50 ms before the end, and whether the cycle
    /// test held during it.
    pub long_pauses: Vec<Pause>,
}

/// What declared a stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// `"cycle"`: the cycle test held for the confirmation window.
    Cycle,
    /// `"silence"`: nothing moved for the stall window.
    Silence,
}

/// A time when no counter moved, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Pause {
    /// When it began, in ms since the watch began.
    pub at_ms: u64,
    /// How long it lasted, in ms (to the end of the watch, for the last).
    pub length_ms: u64,
    /// How long the cycle test held, without a break, at its end, in ms:
    /// 0 if it never held. A pause that ended with movement after the test
    /// held is a cycle that was not a deadlock.
    pub cycle_ms: u64,
    /// True if a counter moved again after it (it was not the stall).
    pub ended: bool,
}

/// What [`watch`] saw.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// Whether it stalled, and when.
    pub timing: Timing,
    /// (ms since the start, the counters' values), if `record` was set.
    pub samples: Vec<(f64, Vec<u64>)>,
}

/// Runs `work` on a thread of its own while this thread watches `read`
/// (see [`watch`]). If the counters stall, calls `on_stall`, which must
/// wake `work` (by shutting its sockets down, say), and returns what it
/// returned as well as what `work` returned.
pub fn while_running<R: Send, E>(
    opts: &WatchOpts,
    read: impl FnMut() -> Vec<u64>,
    cycle: impl FnMut() -> bool,
    label: impl Fn(&[u64]) -> String,
    work: impl FnOnce() -> R + Send,
    on_stall: impl FnOnce() -> E,
) -> (Watched, R, Option<E>) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let result = work();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            result
        });
        let is_done = || done.load(std::sync::atomic::Ordering::SeqCst);
        let watched = watch(opts, read, cycle, is_done, label);
        let evidence = watched.timing.stalled.then(on_stall);
        let result = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (watched, result, evidence)
    })
}

/// Samples `read` every `opts.every` until `done()` is true or a stall:
/// the values have not changed for `opts.stall`, or `cycle()` (the
/// experiment's own test that the two sides wait on each other) has held
/// for `opts.confirm` while they did not change. `label` renders the
/// values for the progress line.
pub fn watch(
    opts: &WatchOpts,
    mut read: impl FnMut() -> Vec<u64>,
    mut cycle: impl FnMut() -> bool,
    done: impl Fn() -> bool,
    label: impl Fn(&[u64]) -> String,
) -> Watched {
    let bar = opts.progress.then(|| {
        let bar =
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .expect("a valid template"),
        );
        bar
    });
    let start = Instant::now();
    let ms = |t: Instant| (t - start).as_millis() as u64;
    let mut last = read();
    let mut last_change = start;
    let mut cycle_since: Option<Instant> = None;
    let mut longest_pause = Duration::ZERO;
    let (mut samples, mut long_pauses) = (Vec::new(), Vec::new());
    let mut pause_record =
        |from: Instant, to: Instant, held: Duration, ended| {
            if to - from > Duration::from_millis(50) {
                long_pauses.push(Pause {
                    at_ms: ms(from),
                    length_ms: (to - from).as_millis() as u64,
                    cycle_ms: held.as_millis() as u64,
                    ended,
                });
            }
        };
    let detected_by = loop {
        std::thread::sleep(opts.every);
        let finished = done();
        let now = Instant::now();
        let values = read();
        let held = cycle_since.map_or(Duration::ZERO, |t| now - t);
        if values != last {
            longest_pause = longest_pause.max(now - last_change);
            pause_record(last_change, now, held, true);
            (last_change, last, cycle_since) = (now, values, None);
        } else if cycle() {
            cycle_since.get_or_insert(now);
        } else {
            cycle_since = None;
        }
        if opts.record {
            samples.push(((now - start).as_secs_f64() * 1000.0, last.clone()));
        }
        if let Some(bar) = &bar {
            bar.set_message(label(&last));
            bar.tick();
        }
        let held = cycle_since.map_or(Duration::ZERO, |t| now - t);
        if finished {
            longest_pause = longest_pause.max(now - last_change);
            break None;
        }
        if opts
            .confirm
            .is_some_and(|c| cycle_since.is_some() && held >= c)
        {
            pause_record(last_change, now, held, false);
            break Some(Detector::Cycle);
        }
        if now - last_change >= opts.stall {
            pause_record(last_change, now, held, false);
            break Some(Detector::Silence);
        }
    };
    if let Some(bar) = bar {
        let word = if detected_by.is_some() {
            "STALLED"
        } else {
            "done"
        };
        bar.finish_with_message(format!("{}: {word}", label(&last)));
    }
    let timing = Timing {
        stalled: detected_by.is_some(),
        last_progress_ms: ms(last_change),
        longest_pause_ms: longest_pause.as_millis() as u64,
        elapsed_ms: start.elapsed().as_millis() as u64,
        detected_by,
        long_pauses,
    };
    Watched { timing, samples }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn opts(stall_ms: u64) -> WatchOpts {
        WatchOpts {
            stall: Duration::from_millis(stall_ms),
            confirm: None,
            every: Duration::from_millis(1),
            progress: false,
            record: true,
        }
    }

    /// Counters that never move are a stall.
    #[test]
    fn still_counters_are_a_stall() {
        let w =
            watch(&opts(20), || vec![5], || false, || false, |_| String::new());
        assert!(w.timing.stalled);
        assert_eq!(w.timing.last_progress_ms, 0);
    }

    /// Done wins over a stall: a finished experiment is not reported stalled.
    #[test]
    fn done_is_not_a_stall() {
        let w = watch(
            &opts(10_000),
            || vec![5],
            || false,
            || true,
            |_| String::new(),
        );
        assert!(!w.timing.stalled);
        assert!(!w.samples.is_empty());
    }

    /// Counters that keep moving are never a stall, however long it runs.
    #[test]
    fn moving_counters_are_not_a_stall() {
        let n = AtomicU64::new(0);
        let w = watch(
            &opts(50),
            || vec![n.fetch_add(1, Ordering::SeqCst)],
            || false,
            || n.load(Ordering::SeqCst) > 100,
            |_| String::new(),
        );
        assert!(!w.timing.stalled);
    }
}
