//! Terminal styling: colours only when the stream is a terminal and NO_COLOR is unset.

use std::io::Write;

use anstyle::{AnsiColor, Style};

/// True when stdout may carry colour (a terminal, NO_COLOR unset, CLICOLOR honoured).
pub fn stdout_color() -> bool {
    !matches!(
        anstream::AutoStream::choice(&std::io::stdout()),
        anstream::ColorChoice::Never
    )
}

/// A styled span for `anstream` output (plain when colour is off).
pub fn paint(text: impl std::fmt::Display, style: Style) -> String {
    format!("{style}{text}{style:#}")
}

/// Green, for success.
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
/// Red, for failure.
pub const BAD: Style = AnsiColor::Red.on_default().bold();
/// Bold, for headings.
pub const HEAD: Style = Style::new().bold();
/// Dim, for secondary detail.
pub const DIM: Style = Style::new().dimmed();

/// Prints an error to stderr as `error: ...`.
pub fn error(message: &str) {
    let mut err = anstream::stderr();
    let _ = writeln!(err, "{} {message}", paint("error:", BAD));
}

/// Prints a note to stderr (seeds, file locations) so stdout stays clean for JSON.
pub fn note(message: &str) {
    let mut err = anstream::stderr();
    let _ = writeln!(err, "{}", paint(message, DIM));
}
