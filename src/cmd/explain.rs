//! `palisade explain DIR "frontend -> backend tcp/8080"`: for each target,
//! allowed or denied, the intent line responsible and the emitted rule; the
//! exit code says allowed (0), denied by the intents and every target (5),
//! or decided otherwise by some target than by the intents (4, as verify).

use crate::values::TextOrJson as Output;
use crate::{workspace, Exit};
use palisade_engine::explain::{explain, Explanation, Outcome, Question, Verdict};
use palisade_intents::Diags;
use palisade_targets::Mode;

/// Arguments of `palisade explain`
#[derive(clap::Args)]
pub struct Args {
    /// The intents folder (holds palisade.yaml and the Intents files), or a
    /// folder inside the project
    #[arg(value_name = "DIR")]
    dir: std::path::PathBuf,
    #[command(flatten)]
    targets: workspace::TargetArgs,
    /// The connection, in the terse form: `frontend -> backend tcp/8080`
    /// (`ns/service`, `ns/*`, an FQDN, an address, `world`, `kube-api` or `dns` on either side)
    connection: String,
    /// HTTP method, to ask about L7 rules too
    #[arg(long, requires = "path")]
    method: Option<String>,
    /// HTTP path, to ask about L7 rules too
    #[arg(long, requires = "method")]
    path: Option<String>,
    /// text, or json (the connection, each layer's verdict and what decided it)
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Explain and print
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Some((ws, dialects)) = workspace::load_with_targets(&args.dir, None, &args.targets.target, sink) else {
        return Exit::Input;
    };
    // Rendered before anything is printed: a rendering no evaluator can read
    // is an error, not a line of denials.
    let (rendered, diags) = workspace::render(&ws, &dialects, Mode::Enforce);
    sink.extend(diags.clone());
    for (_, manifests) in &rendered {
        let problems = palisade_engine::manifests::rendered_problems(manifests);
        if problems.has_errors() {
            sink.extend(problems.clone());
            return Exit::Input;
        }
    }
    let question = Question {
        connection: &args.connection,
        request: args.method.as_deref().zip(args.path.as_deref()),
    };
    let explanation = match explain(&ws, &rendered, &question) {
        Ok(e) => e,
        Err(diag) => {
            sink.push(diag);
            return Exit::Input;
        }
    };
    match args.output {
        Output::Text => print!("{}", text(&explanation)),
        Output::Json => match serde_json::to_string_pretty(&explanation) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                sink.push(palisade_intents::Diag::error(
                    "io",
                    format!("cannot print the explanation: {e}"),
                ));
                return Exit::Input;
            }
        },
    }
    match explanation.outcome {
        Outcome::Allowed => Exit::Ok,
        Outcome::Denied => Exit::Denied,
        Outcome::Disagree => Exit::Mismatch,
    }
}

fn text(e: &Explanation) -> String {
    let mut out = format!("{}\n", e.connection);
    out.push_str(&line(&e.intents));
    if !e.intents.allowed {
        out.push_str("    no intent allows it\n");
    }
    for verdict in &e.targets {
        out.push_str(&line(verdict));
    }
    if e.outcome == Outcome::Disagree {
        out.push_str("the manifests decide otherwise than the intents: run `palisade verify`\n");
    }
    out
}

fn line(v: &Verdict) -> String {
    let mut out = format!("  {}: {}", v.layer, if v.allowed { "allowed" } else { "denied" });
    if v.through_gateway {
        out.push_str(" (through the egress gateway)");
    }
    if let Some(only) = &v.only {
        out.push_str(&format!(", for {only} only"));
    }
    out.push('\n');
    for rule in &v.by {
        out.push_str(&format!("    by {rule}\n"));
    }
    out
}
