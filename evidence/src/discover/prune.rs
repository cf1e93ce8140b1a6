//! The proposal must load and compile: what the intents still refuse is
//! cut with the reason in a note, and the report of the lines follows.

use super::{Proposal, ProposedLine};
use palisade_intents::Diags;
use std::collections::{BTreeMap, BTreeSet};

/// How many times [`prune`] cuts and compiles again (each round cuts at
/// least one line, and a cut service takes the lines naming it in the next)
const PRUNE_ROUNDS: usize = 32;

/// The proposal must load and compile. Placement refuses the parties
/// Kubernetes could not hold, so nothing should be left to cut here; if the
/// intents still refuse a line (a value some rule of theirs refuses and the
/// flows carried), that line is left out with the reason in a note, and a
/// namespace whose header is refused is left out whole, rather than the
/// whole proposal failing on one record.
pub(super) fn prune(proposal: &mut Proposal) -> Result<(), Diags> {
    for _ in 0..PRUNE_ROUNDS {
        let diags = match compiles(proposal) {
            Ok(()) => return Ok(()),
            Err(diags) => diags,
        };
        let mut lines: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        let mut whole: BTreeSet<String> = BTreeSet::new();
        for diag in diags.iter().filter(|d| d.is_error()) {
            // Nothing to cut but the project: leave it to the caller to say.
            let Some(loc) = diag.loc() else {
                return Err(diags.clone());
            };
            let file = loc.file.path.to_string();
            let Some(text) = proposal.files.get(&file).filter(|_| file != "palisade.yaml") else {
                return Err(diags.clone());
            };
            let line = loc.line();
            let entry = text
                .lines()
                .nth(line.saturating_sub(1))
                .filter(|l| l.starts_with("    "));
            match entry {
                Some(written) if !whole.contains(&file) => {
                    if lines.entry(file.clone()).or_default().insert(line) {
                        proposal.notes.push(format!(
                            "left out of {file}:{line} because the intents refuse it ({}): {}",
                            diag.message(),
                            written.trim()
                        ));
                    }
                }
                Some(_) => {}
                None => {
                    if whole.insert(file.clone()) {
                        proposal.notes.push(format!(
                            "{file} is left out because the intents refuse it at line {line}: {}",
                            diag.message()
                        ));
                    }
                }
            }
        }
        if lines.is_empty() && whole.is_empty() {
            return Err(diags);
        }
        for file in &whole {
            proposal.files.remove(file);
            lines.remove(file);
        }
        for (file, cut) in lines {
            if let Some(text) = proposal.files.get_mut(&file) {
                *text = without_lines(text, &cut);
            }
        }
    }
    compiles(proposal)
}

/// Whether the proposal loads and compiles, as the commands will read it
pub(super) fn compiles(proposal: &Proposal) -> Result<(), Diags> {
    palisade_intents::load_files(proposal.raw_files()).and_then(|r| palisade_compiler::compile(&r).map(|_| ()))
}

/// The text without those (1-based) lines; a section left without entries
/// is written empty (`services: {}`, `allow: []`), as YAML reads a bare key
/// as null
fn without_lines(text: &str, cut: &BTreeSet<usize>) -> String {
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| !cut.contains(&(i + 1)))
        .map(|(_, l)| l)
        .collect();
    let mut out = String::new();
    for (i, line) in kept.iter().enumerate() {
        let empty_section = line.ends_with(':')
            && line.starts_with("  ")
            && !line.starts_with("   ")
            && !kept.get(i + 1).is_some_and(|next| next.starts_with("    "));
        match (empty_section, line.trim()) {
            (true, "services:") => out.push_str("  services: {}"),
            (true, "allow:") => out.push_str("  allow: []"),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The rule of an allow line as [`intents`] writes it: `    - RULE  # seen ...`
fn written_rule(line: &str) -> Option<&str> {
    let rule = line.strip_prefix("    - ")?;
    Some(rule.split_once("  # ").map_or(rule, |(rule, _)| rule))
}

/// A line pruning cut is not proposed: the report of the lines follows the
/// files as written
pub(super) fn keep_written_lines(proposal: &mut Proposal) {
    let written: BTreeSet<(String, &str)> = proposal
        .files
        .iter()
        .filter_map(|(file, text)| Some((file.strip_suffix(".yaml")?.to_string(), text)))
        .flat_map(|(ns, text)| text.lines().filter_map(written_rule).map(move |r| (ns.clone(), r)))
        .collect();
    let kept: Vec<ProposedLine> = proposal
        .lines
        .iter()
        .filter(|l| written.contains(&(l.namespace.clone(), l.rule.as_str())))
        .cloned()
        .collect();
    proposal.lines = kept;
}
