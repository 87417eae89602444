//! Progress bars on a terminal; nothing in pipes and CI.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Copy)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    /// Bars only when stderr is a terminal and `CI` is not set.
    pub fn auto() -> Progress {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        Progress { visible: std::io::stderr().is_terminal() && !ci }
    }

    pub fn hidden() -> Progress {
        Progress { visible: false }
    }

    pub fn bar(&self, len: u64, message: &str) -> ProgressBar {
        if !self.visible {
            return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{msg:<32} [{bar:30}] {percent:>3}% {elapsed_precise}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar
    }
}
