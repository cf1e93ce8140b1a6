//! `palisade plan DIR --base REF [--head REF]`: what a change opens and closes,
//! then the manifest diff per target; for a pull request's CI.

use crate::{workspace, Exit};
use clap::ValueEnum;
use palisade_engine::plan::{self, Plan};
use palisade_intents::{Diag, Diags};
use palisade_targets::Mode;
use std::{io::IsTerminal, path::PathBuf};

/// Arguments of `palisade plan`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    intents: workspace::IntentsArgs,
    /// The revision to compare against (e.g. `origin/main`)
    #[arg(long)]
    base: String,
    /// The revision with the change (default: the work tree as it is)
    #[arg(long)]
    head: Option<String>,
    /// text (colours on a terminal), markdown (a pull-request comment) or json
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// A handlebars template for the markdown output (fields: base, head,
    /// opened, closed, opened_count, closed_count, warnings, diffs,
    /// connectivity_changed)
    #[arg(long)]
    template: Option<PathBuf>,
    /// Exit 2 when connectivity changes, 0 when it does not, 1 on error
    #[arg(long)]
    detailed_exitcode: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Markdown,
    Json,
}

const TEMPLATE: &str = include_str!("../templates/plan.md.hbs");

/// Plan and print
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((base, base_targets)) =
        workspace::load_base(&args.intents.dir, &args.base, &args.intents.targets.target, sink)
    else {
        return Exit::Input;
    };
    let Some((head, head_targets)) = workspace::load_with_targets(
        &args.intents.dir,
        args.head.as_deref(),
        &args.intents.targets.target,
        sink,
    ) else {
        return Exit::Input;
    };
    let (base_rendered, base_diags) = workspace::render(&base, &base_targets, Mode::Enforce);
    let (head_rendered, head_diags) = workspace::render(&head, &head_targets, Mode::Enforce);
    if base_diags.has_errors() || head_diags.has_errors() {
        sink.extend(base_diags.clone());
        sink.extend(head_diags.clone());
        return Exit::Input;
    }
    let head_name = args.head.clone().unwrap_or_else(|| "work tree".into());
    let plan = plan::plan(&args.base, &base, &base_rendered, &head_name, &head, &head_rendered);
    let text = match args.output {
        Output::Json => serde_json::to_string_pretty(&plan).unwrap_or_default(),
        Output::Markdown => match fitted_markdown(&plan, args.template.as_ref()) {
            Ok(text) => text,
            Err(diag) => {
                sink.push(diag);
                return Exit::Input;
            }
        },
        Output::Text => terminal(&plan, std::io::stdout().is_terminal()),
    };
    println!("{}", text.trim_end());
    let changed = plan.connectivity_changed;
    workspace::leave((base, head, base_rendered, head_rendered, plan));
    if args.detailed_exitcode && changed {
        return Exit::Changed;
    }
    Exit::Ok
}

/// GitHub refuses comments over 65,536 characters; the comment keeps a margin
const MARKDOWN_LIMIT: usize = 60_000;

/// How many groups of each list the terminal shows before it says how many
/// more: both lists and the warnings fit one screen (a namespace rename on
/// 10,000 services opens and closes 204 groups each)
const SHOWN_GROUPS: usize = 12;

/// The comment within the limit: the summary always, the manifest diffs cut
/// first, then the longest lists, each cut with a marker saying where the
/// whole is
fn fitted_markdown(plan: &Plan, template: Option<&PathBuf>) -> Result<String, Diag> {
    let text = markdown(plan, template)?;
    if text.len() <= MARKDOWN_LIMIT {
        return Ok(text);
    }
    let mut fitted = plan.clone();
    let diff_chars: usize = plan.diffs.iter().map(|d| d.diff.len()).sum();
    let rest = text.len().saturating_sub(diff_chars);
    let budget = MARKDOWN_LIMIT.saturating_sub(rest).saturating_sub(2_000) / plan.diffs.len().max(1);
    for diff in &mut fitted.diffs {
        diff.diff = cut(&diff.diff, budget);
    }
    let mut keep = fitted.opened.len().max(fitted.closed.len());
    loop {
        let text = markdown(&fitted, template)?;
        if text.len() <= MARKDOWN_LIMIT || keep == 0 {
            return Ok(text);
        }
        keep /= 2;
        for (list, whole) in [(&mut fitted.opened, &plan.opened), (&mut fitted.closed, &plan.closed)] {
            if whole.len() > keep {
                *list = whole.iter().take(keep).cloned().collect();
                list.push(plan::Flow {
                    from: format!("… and {} more groups", whole.len() - keep),
                    to: "(`palisade plan --output json` lists every one)".into(),
                    ports: Vec::new(),
                });
            }
        }
    }
}

/// The first lines of a diff that fit in `budget` characters, and a marker
fn cut(diff: &str, budget: usize) -> String {
    if diff.len() <= budget {
        return diff.to_string();
    }
    let mut out = String::new();
    let mut lines = diff.lines();
    for line in lines.by_ref() {
        if out.len() + line.len() + 1 > budget {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    let left = lines.count() + 1;
    out.push_str(&format!(
        "# … truncated: {left} more lines; the whole diff is in `palisade plan --output json` (or the CI artifact)\n"
    ));
    out
}

fn markdown(plan: &Plan, template: Option<&PathBuf>) -> Result<String, Diag> {
    let source = match template {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Diag::error("io", format!("cannot read `{}`: {e}", path.display())))?,
        None => TEMPLATE.to_string(),
    };
    let mut engine = handlebars::Handlebars::new();
    engine.register_escape_fn(handlebars::no_escape);
    engine.render_template(&source, plan).map_err(|e| {
        Diag::error("bad_template", format!("the plan template does not render: {e}"))
            .help("see src/templates/plan.md.hbs for the fields")
    })
}

fn terminal(plan: &Plan, colour: bool) -> String {
    let paint = |code: &str, text: String| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text
        }
    };
    let mut out = format!("palisade plan: {} -> {}\n", plan.base, plan.head);
    if !plan.connectivity_changed {
        out.push_str("no connection is opened or closed\n");
    }
    // The sharp widenings first: the line that matters is never under the list
    for warning in &plan.warnings {
        out.push_str(&paint("33", format!("  ! {warning}")));
        out.push('\n');
    }
    for (title, flows, mark, code) in [("opens", &plan.opened, "+", "32"), ("closes", &plan.closed, "-", "31")] {
        if flows.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "{title} {}:\n",
            palisade_evidence::plural(flows.len(), "connection group")
        ));
        for flow in flows.iter().take(SHOWN_GROUPS) {
            out.push_str(&paint(
                code,
                format!("  {mark} {} -> {} {}", flow.from, flow.to, flow.ports.join(", ")),
            ));
            out.push('\n');
        }
        if flows.len() > SHOWN_GROUPS {
            out.push_str(&format!(
                "  … and {} more (--output json lists every one)\n",
                flows.len() - SHOWN_GROUPS
            ));
        }
    }
    for diff in plan.diffs.iter().filter(|d| !d.diff.is_empty()) {
        out.push_str(&format!("\n{} manifests:\n", diff.target));
        for line in diff.diff.lines() {
            let code = match line.chars().next() {
                Some('+') if !line.starts_with("+++") => "32",
                Some('-') if !line.starts_with("---") => "31",
                _ => "0",
            };
            out.push_str(&paint(code, line.to_string()));
            out.push('\n');
        }
    }
    if plan.diffs.iter().all(|d| d.diff.is_empty()) {
        out.push_str("the rendered manifests are the same\n");
    }
    out
}
