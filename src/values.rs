//! Value parsers that keep palisade's own checks (an unknown target or flow
//! format is a diagnostic with "did you mean", exit 1) while telling clap the
//! values there are, so that `--help` lists them and shell completions offer
//! them instead of file names.

use clap::builder::{PossibleValue, TypedValueParser};

/// Accepts any word; offers `choices`
#[derive(Clone)]
pub struct Offered(Vec<&'static str>);

impl TypedValueParser for Offered {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|&v| PossibleValue::new(v))))
    }
}

/// The targets of `-t`, and `all`
pub fn targets() -> Offered {
    let mut names: Vec<&'static str> = palisade_targets::DIALECTS.iter().map(|d| d.id()).collect();
    names.push("all");
    Offered(names)
}

/// The flow formats palisade reads
pub fn flow_formats() -> Offered {
    Offered(palisade_targets::flows::formats().iter().map(|f| f.id()).collect())
}

/// `-o text|json`: the output formats of most commands, defined once
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextOrJson {
    /// for people
    Text,
    /// one JSON document on stdout, for scripts
    Json,
}
