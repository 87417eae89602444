//! The `precis` command: see `cli` for the commands, the library for what they do.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
