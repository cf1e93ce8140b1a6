//! What each dialect can express. The refusals read this table, and
//! `palisade targets` prints it, so users and the compiler agree.

/// How a dialect handles DNS-name destinations
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FqdnSupport {
    /// rules that follow DNS answers
    Direct,
    /// only with the Enterprise edition (Calico `destination.domains`)
    Enterprise,
    /// only by letting pods reach the egress gateway
    ViaGatewayOnly,
    /// the routing through the egress gateway itself (Istio)
    GatewayRouting,
}

/// What a dialect can express
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// combines with an L3/L4 target rather than replacing one (Istio)
    pub overlay: bool,
    /// DNS-name destinations
    pub fqdn: FqdnSupport,
    /// HTTP method/path/header rules
    pub l7_http: bool,
    /// the HTTP rules hold on the source's side too (Cilium's proxy sees a
    /// pod's egress); a layer that enforces them at the destination only
    /// (Istio's AuthorizationPolicy) leaves the egress side blind to requests
    pub l7_egress: bool,
    /// CIDR blocks with exceptions
    pub cidr_except: bool,
    /// named container ports
    pub named_ports: bool,
    /// port ranges
    pub port_ranges: bool,
    /// what `--mode audit` renders
    pub audit: &'static str,
}

impl FqdnSupport {
    /// For the matrix
    pub fn describe(self) -> &'static str {
        match self {
            FqdnSupport::Direct => "yes",
            FqdnSupport::Enterprise => "Enterprise only",
            FqdnSupport::ViaGatewayOnly => "via egress gateway",
            FqdnSupport::GatewayRouting => "egress gateway routing",
        }
    }
}

/// The matrix `palisade targets` prints
pub fn matrix(dialects: &[&dyn crate::Dialect]) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut rows = vec![[
        "target".to_string(),
        "layer".into(),
        "FQDN".into(),
        "L7 HTTP".into(),
        "CIDR except".into(),
        "named ports".into(),
        "port ranges".into(),
        "--mode audit renders".into(),
    ]];
    for d in dialects {
        let c = d.capabilities();
        rows.push([
            d.id().to_string(),
            if c.overlay { "overlay".into() } else { "L3/L4".into() },
            c.fqdn.describe().into(),
            yes(c.l7_http).into(),
            yes(c.cidr_except).into(),
            yes(c.named_ports).into(),
            yes(c.port_ranges).into(),
            c.audit.into(),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if index == 0 {
            out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
            out.push('\n');
        }
    }
    out
}
