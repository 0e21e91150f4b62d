//! `snoozectl`: the operator CLI (see [`snooze::cli`]).

fn main() -> std::process::ExitCode {
    snooze::cli::main()
}
