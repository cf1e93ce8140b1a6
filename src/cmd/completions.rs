//! `palisade completions SHELL` and `palisade man`: generated from the same
//! clap definitions as the parser, so they never drift from it.

use crate::Exit;
use clap_complete::Shell;
use palisade_intents::{diag::did_you_mean, Diag, Diags};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `palisade completions`
#[derive(clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell
    shell: Shell,
}

/// Print the completion script
pub fn run(args: &Args, mut command: clap::Command) -> Exit {
    // Into a buffer first: clap_complete panics on a closed stdout (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "palisade", &mut script);
    print(&script)
}

fn print(bytes: &[u8]) -> Exit {
    match std::io::stdout().write_all(bytes) {
        Ok(()) => Exit::Ok,
        // A closed pipe is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::ClosedPipe,
        Err(_) => Exit::Input,
    }
}

/// Arguments of `palisade man`
#[derive(clap::Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (`palisade man compile`); default: palisade's own
    #[arg(value_name = "COMMAND")]
    command: Option<String>,
    /// Write every page (palisade.1, palisade-compile.1, ...) into this folder
    /// instead, for `man -M` or a package's share/man/man1
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    out: Option<PathBuf>,
}

/// Print one man page, or write all of them
pub fn man(args: &ManArgs, command: clap::Command, sink: &mut Diags) -> Exit {
    let mut command = command.disable_help_subcommand(true);
    // Built, so that each subcommand's page is titled `palisade-compile`.
    command.build();
    if let Some(dir) = &args.out {
        return match write_pages(&command, dir) {
            Ok(written) => {
                eprintln!("wrote {written} man pages to {}", dir.display());
                Exit::Ok
            }
            Err(e) => {
                sink.push(
                    Diag::error("io", format!("cannot write the man pages to `{}`: {e}", dir.display()))
                        .help("pass a folder palisade may create and write"),
                );
                Exit::Input
            }
        };
    }
    let page = match &args.command {
        None => command,
        Some(name) => match command.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<&str> = command.get_subcommands().map(clap::Command::get_name).collect();
                let help = did_you_mean(name, names.iter().copied())
                    .unwrap_or_else(|| format!("palisade's commands: {}", names.join(", ")));
                sink.push(Diag::error("unknown_command", format!("no command `{name}`")).help(help));
                return Exit::Input;
            }
        },
    };
    let mut roff = Vec::new();
    if clap_mangen::Man::new(page).render(&mut roff).is_err() {
        return Exit::Input;
    }
    print(&roff)
}

/// `command`'s page and one per subcommand, nested ones too; how many were written
fn write_pages(command: &clap::Command, dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::Man::new(command.clone()).generate_to(dir)?;
    let mut written = 1;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        written += write_pages(sub, dir)?;
    }
    Ok(written)
}
