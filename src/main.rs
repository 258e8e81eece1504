use clap::Parser;

fn main() -> std::process::ExitCode {
    gridwatch::allocator::tune();
    let cli = gridwatch::cli::Cli::parse();
    match gridwatch::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `gridwatch ... | head`: the reader has what it wanted; that is not a failure.
        Err(e) if gridwatch::cli::is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Errors quote file names and file contents: no escape sequence reaches the terminal.
            eprintln!("error: {}", gridwatch::sanitize::sanitize_for_terminal(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}
