use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = gridwatch::cli::Cli::parse();
    match gridwatch::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
