//! `palisade completions SHELL` and `palisade man`: generated from the same
//! clap definitions as the parser, so they never drift from it.

use crate::Exit;
use clap_complete::Shell;
use std::io::Write;

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

/// Print the man page
pub fn man(command: clap::Command) -> Exit {
    let mut page = Vec::new();
    if clap_mangen::Man::new(command).render(&mut page).is_err() {
        return Exit::Input;
    }
    print(&page)
}
