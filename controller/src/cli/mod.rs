//! `snoozectl`, the operator CLI (placeholder until implemented).

/// Entry point of the `snoozectl` binary.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
