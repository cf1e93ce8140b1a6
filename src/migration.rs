//! The import pipeline `import` and `migrate` share: read the manifests,
//! import each dialect's, write intents, load and compile them (what palisade
//! writes must compile), and build the model both sides are compared on.

use crate::report::{self, ErrorFormat};
use palisade_compiler::{ir::Ir, model::ClusterModel};
use palisade_intents::{Diag, RawFile};
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
    format: ErrorFormat,
) -> Option<Migration> {
    let originals = match crate::manifests::read_located(paths) {
        Ok((m, origins)) => {
            // The equivalence check decides by the originals' evaluators: one
            // that cannot read a policy would compare against "deny all".
            let problems = crate::manifests::problems(&m, &origins);
            if problems.has_errors() {
                report::print(&problems, format);
                return None;
            }
            m
        }
        Err(diags) => {
            report::print(&diags, format);
            return None;
        }
    };
    let dump = match cluster.map(|c| crate::manifests::read_cluster(c)).transpose() {
        Ok(d) => d,
        Err(diags) => {
            report::print(&diags, format);
            return None;
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
        let known = palisade_targets::DIALECTS.iter().any(|d| d.reads(m))
            || matches!(m.api_version(), "cilium.io/v2" | "projectcalico.org/v3");
        if !known {
            imported.lose(
                &format!("{} {}/{}", m.kind(), m.namespace(), m.name()),
                "the whole object",
                "not a policy palisade reads; ignored",
            );
        }
    }
    if sources.is_empty() {
        report::print_one(
            Diag::error("nothing_to_import", "no policy palisade imports was found")
                .help("pass NetworkPolicy, CiliumNetworkPolicy or Calico NetworkPolicy manifests (files or folders)"),
            format,
        );
        return None;
    }
    let (mut files, more) = imported.to_intents();
    let mut losses = imported.losses.clone();
    losses.extend(more);
    losses.sort();
    losses.dedup();
    // A cluster that has Cilium or Calico policies runs that CNI, which also
    // enforces NetworkPolicy: one target, the most expressive read, says it all.
    let targets = if targets.is_empty() {
        let best = ["cilium", "calico", "kubernetes"]
            .into_iter()
            .find(|t| sources.iter().any(|s| s == t))
            .unwrap_or("kubernetes");
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
        Err(diags) => {
            report::print(&diags, format);
            report::print_one(
                Diag::error(
                    "internal",
                    "the imported intents do not compile: this is a palisade bug",
                )
                .help("please report it with the manifests that produced it"),
                format,
            );
            return None;
        }
    };
    let model = imported.model(&ir, dump.as_ref());
    Some(Migration {
        originals,
        files,
        losses,
        ir,
        model,
    })
}

/// Write every file or none: refuse to overwrite without `force`, stage
/// beside the destination, then move the files in
pub fn write_files(out: &std::path::Path, files: &BTreeMap<String, String>, force: bool) -> Result<(), Diag> {
    let io = |e: std::io::Error| Diag::error("io", format!("cannot write to `{}`: {e}", out.display()));
    if !force {
        if let Some(existing) = files.keys().find(|f| out.join(f).exists()) {
            return Err(Diag::error(
                "would_overwrite",
                format!("`{}` already exists", out.join(existing).display()),
            )
            .help("choose an empty folder, or pass --force to replace these files"));
        }
    }
    std::fs::create_dir_all(out).map_err(io)?;
    let staging = tempfile::Builder::new()
        .prefix(".palisade-")
        .tempdir_in(out)
        .map_err(io)?;
    for (name, text) in files {
        let path = staging.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(path, text).map_err(io)?;
    }
    for name in files.keys() {
        let target = out.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::rename(staging.path().join(name), target).map_err(io)?;
    }
    Ok(())
}
