//! Progress bars for long work (model fetch and load, perplexity, bench). They draw only on a
//! terminal, so logs and CI output stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn styled(len: u64, template: &str, label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_string());
    bar
}

pub fn bytes_bar(len: u64, label: &str) -> ProgressBar {
    styled(len, "{msg:>10} [{bar:30}] {bytes}/{total_bytes} ({eta})", label)
}

pub fn count_bar(len: u64, label: &str) -> ProgressBar {
    styled(len, "{msg:>10} [{bar:30}] {pos}/{len} ({eta})", label)
}
