//! `palisade import PATH...`: existing NetworkPolicy, CiliumNetworkPolicy and
//! Calico policies as intents, with every construct that did not carry over
//! exactly, and proof: the imported intents and the originals decide every
//! connection of the model alike, or each difference is listed. Exit 2 when
//! some connection differs.

pub use crate::values::TextOrJson as Output;
use crate::Exit;
use palisade_intents::Diags;
use palisade_targets::equivalence::{compare, Decider, Difference};
use std::path::PathBuf;

/// Arguments of `palisade import`
#[derive(clap::Args)]
pub struct Args {
    /// Policy files or folders (any mix of NetworkPolicy, Cilium and Calico)
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The API server's address (Cilium's `kube-apiserver` entity becomes `kube-api`)
    #[arg(long)]
    api_server: Option<ipnet::IpNet>,
    /// The cluster's pod and service CIDRs, comma-separated: address rules of
    /// the imported policies except them (NetworkPolicy and Calico match pod
    /// addresses too); without them such rules are refused
    #[arg(long, value_delimiter = ',')]
    cluster_cidrs: Vec<ipnet::IpNet>,
    /// A cluster dump (`kubectl get ns,pods -A -o yaml`): namespaces for
    /// namespace selectors, pods for named ports and the equivalence check
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// Write the intents here (palisade.yaml and one file per namespace); default: stdout
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace files already in OUT
    #[arg(long)]
    force: bool,
    /// text or json (the report; the intents go to OUT or stdout)
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Import, check and write
pub fn run(args: &Args, sink: &mut Diags) -> Exit {
    let Ok(m) = palisade_engine::migration::import(
        &args.paths,
        args.cluster.as_ref(),
        args.api_server,
        &args.cluster_cidrs,
        &[],
    )
    .map_err(|diags| sink.extend(diags.clone())) else {
        return Exit::Input;
    };
    let before = Decider::manifests(&m.originals);
    let comparison = compare(&m.model, &before, &Decider::intents(&m.ir));
    match &args.out {
        Some(out) => {
            if let Err(diag) = palisade_engine::output::write_files(out, &m.files, args.force) {
                sink.push(diag);
                return Exit::Input;
            }
        }
        // JSON on stdout is one document: the intents go inside it.
        None if args.output == Output::Json => {}
        None => {
            let mut docs: Vec<&str> = m.files.get("palisade.yaml").map(String::as_str).into_iter().collect();
            docs.extend(
                m.files
                    .iter()
                    .filter(|(k, _)| *k != "palisade.yaml")
                    .map(|(_, v)| v.as_str()),
            );
            print!("{}", docs.join("---\n"));
        }
    }
    let summary = Summary {
        written_to: args.out.as_ref().map(|o| o.display().to_string()),
        files: m.files.keys().cloned().collect(),
        contents: (args.out.is_none() && args.output == Output::Json).then(|| m.files.clone()),
        losses: m.losses.clone(),
        compared: comparison.compared,
        differences: comparison.differences,
    };
    // The text report goes to stderr when the intents take stdout.
    let text = match args.output {
        Output::Json => serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n",
        Output::Text => summary.text("import", "the imported intents"),
    };
    if args.out.is_some() || args.output == Output::Json {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
    if summary.differences.is_empty() {
        Exit::Ok
    } else {
        Exit::Changed
    }
}

/// What an import or migration found
#[derive(serde::Serialize)]
pub struct Summary {
    /// where the files went
    pub written_to: Option<String>,
    /// the files
    pub files: Vec<String>,
    /// their text, when no `--out` takes them (`-o json` on stdout)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<std::collections::BTreeMap<String, String>>,
    /// what did not carry over exactly
    pub losses: Vec<palisade_targets::import::Loss>,
    /// pairs of endpoint classes compared, each on every port and request
    pub compared: usize,
    /// what one side lets through and the other does not, broader first
    pub differences: Vec<Difference>,
}

impl Summary {
    /// The report for a terminal or a log
    pub fn text(&self, verb: &str, result: &str) -> String {
        let mut out = String::new();
        if let Some(dir) = &self.written_to {
            out.push_str(&format!("wrote {} to {dir}\n", self.files.join(", ")));
        }
        if self.losses.is_empty() {
            out.push_str("every construct carried over\n");
        } else {
            out.push_str(&format!(
                "{} did not carry over exactly:\n",
                palisade_evidence::plural(self.losses.len(), "construct")
            ));
            for loss in &self.losses {
                out.push_str(&format!(
                    "  - {}: {}\n      {}\n",
                    loss.origin, loss.construct, loss.why
                ));
            }
        }
        if self.differences.is_empty() {
            out.push_str(&format!(
                "equivalent: the originals and {result} let the same connections through, \
                 on every port and request of all {} pairs of endpoints of the model\n",
                self.compared
            ));
            return out;
        }
        let broader = self.differences.iter().filter(|d| d.after).count();
        out.push_str(&format!(
            "{verb} is not exact: {} ({broader} now allowed, {} now denied):\n",
            palisade_evidence::plural(self.differences.len(), "difference"),
            self.differences.len() - broader
        ));
        // Now allowed comes first: that is where the new policies are broader.
        for d in self.differences.iter().take(SHOWN) {
            out.push_str(&format!(
                "  {} -> {}: {} before, {} now on {}\n",
                d.from,
                d.to,
                verdict(d.before),
                verdict(d.after),
                d.services
            ));
            if let Some(rule) = d.before_rules.first() {
                out.push_str(&format!("      before: {rule}\n"));
            }
            if let Some(rule) = d.after_rules.first() {
                out.push_str(&format!("      now:    {rule}\n"));
            }
        }
        if self.differences.len() > SHOWN {
            out.push_str(&format!(
                "  ... and {} more (--output json lists them all)\n",
                self.differences.len() - SHOWN
            ));
        }
        out
    }
}

/// How many differences the text report shows
const SHOWN: usize = 40;

fn verdict(allowed: bool) -> &'static str {
    if allowed {
        "allowed"
    } else {
        "denied"
    }
}
