//! The `sharpeyes` command line: `run`, `sim`, `check`, `report`, `windows`, `diagnose`, `detect`, `eval`,
//! `hash-password`.

use clap::{Parser, Subcommand};

/// sharpeyes: watches an RTSP camera fleet, its online rate (在线率) and why cameras are down.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon: hold or patrol every camera, serve /metrics and /api.
    Run(sharpeyes::cmd::run::RunArgs),
    /// Validate an inventory and print a summary per group.
    Check(sharpeyes::cmd::check::CheckArgs),
    /// Print a day's time-weighted online rate per camera and group from the history.
    Report(sharpeyes::report::ReportArgs),
    /// Declare, list, edit or delete maintenance windows (报备), with their audit trail.
    Windows(sharpeyes::cmd::windows::WindowsArgs),
    /// Serve a simulated camera fleet (real H.264 over RTSP) with switchable faults.
    Sim(sharpeyes::sim::SimArgs),
    /// Run the picture-quality diagnosis on image files (the daemon's code path).
    Diagnose(sharpeyes::cmd::diagnose::DiagnoseArgs),
    /// Run the object detector on image files (the daemon's code path).
    Detect(sharpeyes::vision::detect::DetectArgs),
    /// Measure person detection on a labelled set: recall, precision, count error, time.
    Eval(sharpeyes::cmd::eval::EvalArgs),
    /// Print the Argon2id hash of a password read from stdin, for `[[auth.users]]`.
    HashPassword(sharpeyes::http::password::HashPasswordArgs),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,retina=warn,ort=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run(_)) {
        pin_mmap_threshold();
    }
    let result = match cli.command {
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(sharpeyes::cmd::run::run(args)))
            .map(|()| 0),
        Command::Check(args) => sharpeyes::cmd::check::run(&args),
        Command::Report(args) => sharpeyes::report::run(&args).map(|()| 0),
        Command::Windows(args) => sharpeyes::cmd::windows::run(args).map(|()| 0),
        Command::Sim(args) => sharpeyes::sim::run(args).map(|()| 0),
        Command::Diagnose(args) => sharpeyes::cmd::diagnose::run(&args),
        Command::Detect(args) => sharpeyes::vision::detect::run_cli(&args).map(|()| 0),
        Command::Eval(args) => sharpeyes::cmd::eval::run(&args).map(|()| 0),
        Command::HashPassword(args) => sharpeyes::http::password::run(&args).map(|()| 0),
    };
    match result {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Serve every allocation of 128 KiB or more (decoded pictures, model tensors, JPEGs) with its
/// own mapping, returned to the system when freed. glibc otherwise raises this threshold after
/// the first large free, and the 1.3 MB pictures that the vision threads allocate and free every
/// few milliseconds then fragment the heap: a 30-minute soak of 50 sampled and detected
/// cameras grew 1.9 MiB/min by default; with the threshold pinned, a 20-minute soak stayed
/// between 221 and 259 MiB (+0.2 MiB/min fitted). See docs/benchmarks.md.
fn pin_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
