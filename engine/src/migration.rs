//! The import pipeline `import` and `migrate` share: read the manifests,
//! import each dialect's, write intents, load and compile them (what palisade
//! writes must compile), and build the model both sides are compared on.

use palisade_compiler::{ir::Ir, model::ClusterModel};
use palisade_intents::{Diag, Diags, RawFile};
use palisade_targets::{
    import::{Context, Imported, Loss},
    Manifest,
};
use std::{collections::BTreeMap, path::PathBuf};

/// The originals and what they became
pub struct Migration {
    /// the manifests read
    pub originals: Vec<Manifest>,
    /// `palisade.yaml` and one Intents file per namespace
    pub files: BTreeMap<String, String>,
    /// what did not carry over exactly
    pub losses: Vec<Loss>,
    /// the compiled intents
    pub ir: Ir,
    /// the model both sides are decided on
    pub model: ClusterModel,
}

/// The Project's `cluster:` from what the command line knows of the cluster
fn cluster_section(api_server: Option<ipnet::IpNet>, cluster_cidrs: &[ipnet::IpNet]) -> String {
    let mut lines = Vec::new();
    if let Some(net) = api_server {
        lines.push(format!(
            "    apiServer: {{ cidrs: [{net}], ports: [tcp/443, tcp/6443] }}\n"
        ));
    }
    if !cluster_cidrs.is_empty() {
        let cidrs: Vec<String> = cluster_cidrs.iter().map(ToString::to_string).collect();
        lines.push(format!("    clusterCIDRs: [{}]\n", cidrs.join(", ")));
    }
    if lines.is_empty() {
        return String::new();
    }
    format!("  cluster:\n{}", lines.concat())
}

/// Import `paths`; `targets` go into the Project (default: the dialects read)
pub fn import(
    paths: &[PathBuf],
    cluster: Option<&PathBuf>,
    api_server: Option<ipnet::IpNet>,
    cluster_cidrs: &[ipnet::IpNet],
    targets: &[String],
) -> Result<Migration, Diags> {
    let originals = match crate::manifests::read_located(paths) {
        Ok((m, origins)) => {
            // The equivalence check decides by the originals' evaluators: one
            // that cannot read a policy would compare against "deny all".
            let problems = crate::manifests::problems(&m, &origins);
            if problems.has_errors() {
                return Err(problems);
            }
            m
        }
        Err(diags) => {
            return Err(diags);
        }
    };
    let dump = match cluster.map(|c| crate::manifests::read_cluster(c)).transpose() {
        Ok(d) => d,
        Err(diags) => {
            return Err(diags);
        }
    };
    let context = Context {
        api_server,
        ..Context::new(&originals, dump.as_ref())
    };
    let mut imported = Imported::default();
    let mut sources = Vec::new();
    for dialect in palisade_targets::DIALECTS {
        if !originals.iter().any(|m| dialect.reads(m)) {
            continue;
        }
        match dialect.import(&originals, &context) {
            Some(i) => {
                imported.extend(i);
                sources.push(dialect.id().to_string());
            }
            None => imported.lose(
                &format!("{} manifests", dialect.id()),
                "every policy of this dialect",
                "palisade does not import it yet; the equivalence check below still decides by it",
            ),
        }
    }
    for m in &originals {
        // The importers read (and report on) every kind of their API groups.
        let known =
            palisade_targets::DIALECTS.iter().any(|d| d.reads(m)) || palisade_targets::kinds::in_emitted_group(m);
        if !known {
            imported.lose(
                &format!("{} {}/{}", m.kind(), m.namespace(), m.name()),
                "the whole object",
                "not a policy palisade reads; ignored",
            );
        }
    }
    if sources.is_empty() {
        return Err(one(Diag::error(
            "nothing_to_import",
            "no policy palisade imports was found",
        )
        .help(
            "pass NetworkPolicy, CiliumNetworkPolicy or Calico NetworkPolicy manifests (files or folders)",
        )));
    }
    let (mut files, more) = imported.to_intents();
    let mut losses = imported.losses.clone();
    losses.extend(more);
    losses.sort();
    losses.dedup();
    // A cluster that has Cilium or Calico policies runs that CNI, which also
    // enforces NetworkPolicy: one target, the most expressive read, says it all.
    let targets = if targets.is_empty() {
        let read: Vec<&str> = sources.iter().map(String::as_str).collect();
        let best = palisade_targets::kinds::best_import(&read).map_or("kubernetes", |d| d.id());
        vec![best.to_string()]
    } else {
        targets.to_vec()
    };
    files.insert(
        "palisade.yaml".into(),
        format!(
            "# Imported by `palisade import`.\napiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: {{ name: imported }}\nspec:\n  targets: [{}]\n{}",
            targets.join(", "),
            cluster_section(api_server, cluster_cidrs)
        ),
    );
    let raw: Vec<RawFile> = files
        .iter()
        .map(|(path, text)| RawFile {
            path: path.clone(),
            bytes: text.clone().into_bytes(),
        })
        .collect();
    let compiled = palisade_intents::load_files(raw).and_then(|r| palisade_compiler::compile(&r).map(|(ir, _)| ir));
    let ir = match compiled {
        Ok(ir) => ir,
        Err(mut diags) => {
            diags.push(
                Diag::error(
                    "internal",
                    "the imported intents do not compile: this is a palisade bug",
                )
                .help("please report it with the manifests that produced it"),
            );
            return Err(diags);
        }
    };
    let model = imported.model(&ir, dump.as_ref());
    Ok(Migration {
        originals,
        files,
        losses,
        ir,
        model,
    })
}

fn one(diag: Diag) -> Diags {
    let mut diags = Diags::new();
    diags.push(diag);
    diags
}
