//! Progress on long work, on a terminal only: piped or redirected output, CI
//! logs and tests never see a bar.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A bar over `total` bytes, when stderr is a terminal
pub fn bytes(total: u64, what: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() || total == 0 {
        return None;
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)")
        .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    Some(bar)
}

/// A spinner with a message, when stderr is a terminal and the work is large
pub fn spinner(message: &str, large: bool) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() || !large {
        return None;
    }
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(message.to_string());
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(spinner)
}
