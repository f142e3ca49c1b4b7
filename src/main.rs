//! The native binary: with no arguments, a Maelstrom node on stdin/stdout;
//! with a subcommand, a command-line tool over the same core.

mod cli;
mod maelstrom;

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args_os().len() <= 1 {
        return maelstrom::run();
    }
    cli::run()
}
