//! Progress of long work. On a terminal: a bar that ticks steadily and never
//! goes backwards. Elsewhere (pipes, CI, the App's log): a log line when a
//! stage starts and ends and at least one every ten seconds while it runs.

use std::io::IsTerminal;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Where a stage's log lines go.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// How often a stage that is still running says so in a log.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Steps the terminal bar is drawn in: its position is a share of the work
/// done, so work found later (reductions) never moves it back.
const BAR_STEPS: u64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Bar,
    Log,
    Hidden,
}

#[derive(Clone, Copy, Debug)]
pub struct Progress {
    mode: Mode,
    interval: Duration,
}

impl Progress {
    /// A bar when stderr is a terminal and `CI` is not set; log lines otherwise.
    pub fn auto() -> Progress {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        if std::io::stderr().is_terminal() && !ci {
            Progress { mode: Mode::Bar, interval: LOG_INTERVAL }
        } else {
            Progress::log()
        }
    }

    /// Log lines only (the App: many jobs, no terminal).
    pub fn log() -> Progress {
        Progress { mode: Mode::Log, interval: LOG_INTERVAL }
    }

    pub fn hidden() -> Progress {
        Progress { mode: Mode::Hidden, interval: LOG_INTERVAL }
    }

    /// The same, with log lines every `interval` (tests).
    pub fn every(self, interval: Duration) -> Progress {
        Progress { interval, ..self }
    }

    /// A stage of `len` steps (0: not yet known) named `message`.
    pub fn bar(&self, len: u64, message: &str) -> Bar {
        self.bar_with(len, message, Arc::new(|line: &str| tracing::info!(target: "precis::progress", "{line}")))
    }

    /// A stage whose log lines go to `sink` (tests).
    pub fn bar_with(&self, len: u64, message: &str, sink: LogSink) -> Bar {
        let state = Arc::new(State {
            counts: Mutex::new(Counts { position: 0, length: len, shown: 0, finished: false }),
            wake: Condvar::new(),
            message: message.to_string(),
            started: Instant::now(),
            sink,
        });
        let mut bar = Bar { state, drawn: None, ticker: Mutex::new(None) };
        match self.mode {
            Mode::Hidden => {}
            Mode::Bar => {
                let drawn = ProgressBar::new(BAR_STEPS);
                drawn.set_style(
                    ProgressStyle::with_template("{msg:<40} [{bar:30}] {percent:>3}% {elapsed_precise}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                drawn.set_message(bar.state.counted());
                drawn.enable_steady_tick(Duration::from_millis(200));
                bar.drawn = Some(drawn);
            }
            Mode::Log => {
                bar.state.log("started");
                let state = bar.state.clone();
                let interval = self.interval;
                bar.ticker = Mutex::new(Some(std::thread::spawn(move || state.tick_until_finished(interval))));
            }
        }
        bar
    }
}

struct Counts {
    position: u64,
    length: u64,
    /// The share of `BAR_STEPS` last drawn: the bar only moves forward.
    shown: u64,
    finished: bool,
}

struct State {
    counts: Mutex<Counts>,
    wake: Condvar,
    message: String,
    started: Instant,
    sink: LogSink,
}

impl State {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A panic elsewhere cannot leave the counts half-written: plain numbers.
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// "summarizing 3/12", or the bare message while the length is unknown.
    fn counted(&self) -> String {
        let counts = self.counts();
        if counts.length == 0 {
            self.message.clone()
        } else {
            format!("{} {}/{}", self.message, counts.position.min(counts.length), counts.length)
        }
    }

    fn log(&self, what: &str) {
        let seconds = self.started.elapsed().as_secs();
        (self.sink)(&format!("{}: {what} ({seconds} s)", self.counted()));
    }

    fn tick_until_finished(&self, interval: Duration) {
        let mut counts = self.counts();
        while !counts.finished {
            let (next, timeout) =
                self.wake.wait_timeout(counts, interval).unwrap_or_else(|poisoned| poisoned.into_inner());
            counts = next;
            if timeout.timed_out() && !counts.finished {
                drop(counts);
                self.log("running");
                counts = self.counts();
            }
        }
    }
}

/// One stage's progress; the methods are those of a progress bar.
pub struct Bar {
    state: Arc<State>,
    drawn: Option<ProgressBar>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl Bar {
    pub fn inc(&self, steps: u64) {
        self.update(|c| c.position += steps);
    }

    pub fn inc_length(&self, steps: u64) {
        self.update(|c| c.length += steps);
    }

    pub fn set_length(&self, length: u64) {
        self.update(|c| c.length = length);
    }

    pub fn set_position(&self, position: u64) {
        self.update(|c| c.position = position);
    }

    /// The share of the work the bar shows, in `BAR_STEPS`: never less than before.
    pub fn shown(&self) -> u64 {
        self.state.counts().shown
    }

    fn update(&self, change: impl FnOnce(&mut Counts)) {
        let shown = {
            let mut counts = self.state.counts();
            change(&mut counts);
            if let Some(share) = (counts.position.min(counts.length) * BAR_STEPS).checked_div(counts.length) {
                counts.shown = counts.shown.max(share);
            }
            counts.shown
        };
        if let Some(drawn) = &self.drawn {
            drawn.set_position(shown);
            drawn.set_message(self.state.counted());
        }
    }

    /// Ends the stage, leaving the bar on the terminal.
    pub fn finish(&self) {
        self.end(false, "done");
    }

    /// Ends the stage and clears the bar.
    pub fn finish_and_clear(&self) {
        self.end(true, "done");
    }

    fn end(&self, clear: bool, how: &str) {
        {
            let mut counts = self.state.counts();
            if counts.finished {
                return;
            }
            counts.finished = true;
        }
        self.state.wake.notify_all();
        let ticker = self.ticker.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(ticker) = ticker {
            let _ = ticker.join();
            self.state.log(how);
        }
        if let Some(drawn) = &self.drawn {
            if clear {
                drawn.finish_and_clear();
            } else {
                drawn.set_position(BAR_STEPS);
                drawn.finish();
            }
        }
    }
}

impl Drop for Bar {
    /// A stage left by an error stops its ticker too, and says it stopped.
    fn drop(&mut self) {
        self.end(true, "stopped");
    }
}

/// The process's peak resident set (VmHWM), in MB; 0 where /proc is absent.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collecting() -> (Arc<Mutex<Vec<String>>>, LogSink) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let lines = lines.clone();
            Arc::new(move |line: &str| lines.lock().unwrap().push(line.to_string()))
        };
        (lines, sink)
    }

    #[test]
    fn a_logged_stage_says_when_it_starts_runs_and_ends() {
        let (lines, sink) = collecting();
        let bar = Progress::log().every(Duration::from_millis(20)).bar_with(4, "summarizing", sink);
        bar.inc(1);
        std::thread::sleep(Duration::from_millis(120));
        bar.inc(3);
        bar.finish();
        let lines = lines.lock().unwrap();
        assert!(lines[0].starts_with("summarizing 0/4: started"), "{lines:?}");
        assert!(lines.iter().any(|l| l.starts_with("summarizing 1/4: running")), "{lines:?}");
        assert!(lines.last().unwrap().starts_with("summarizing 4/4: done"), "{lines:?}");
        let running = lines.iter().filter(|l| l.contains("running")).count();
        assert!((2..=7).contains(&running), "a line per interval, not per step: {lines:?}");
    }

    #[test]
    fn a_dropped_stage_stops_its_ticker() {
        let (lines, sink) = collecting();
        let bar = Progress::log().every(Duration::from_millis(10)).bar_with(2, "fetching", sink);
        drop(bar);
        assert!(lines.lock().unwrap().last().unwrap().contains("stopped"), "not done: {:?}", lines.lock().unwrap());
        let count = lines.lock().unwrap().len();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(lines.lock().unwrap().len(), count, "no line after the stage ended");
    }

    #[test]
    fn the_bar_never_goes_backwards_when_work_is_added() {
        let (_, sink) = collecting();
        let bar = Progress::hidden().bar_with(10, "summarizing", sink);
        bar.inc(9);
        assert_eq!(bar.shown(), 900);
        bar.inc_length(10); // the reductions join: 9/20
        assert_eq!(bar.shown(), 900);
        bar.inc(9); // 18/20
        assert_eq!(bar.shown(), 900);
        bar.inc(2);
        assert_eq!(bar.shown(), BAR_STEPS);
    }

    #[test]
    fn hidden_progress_logs_nothing() {
        let (lines, sink) = collecting();
        let bar = Progress::hidden().bar_with(3, "converting", sink);
        bar.inc(3);
        bar.finish();
        assert!(lines.lock().unwrap().is_empty());
    }
}
