//! `palisade schema`: the JSON Schema of the Intents, Guardrails and Project kinds.

use crate::Exit;
use clap::ValueEnum;

/// Arguments of `palisade schema`
#[derive(clap::Args)]
pub struct Args {
    /// Which kind: both (every kind, chosen by `kind`, for editors), intents, guardrails or project
    #[arg(long, value_enum, default_value_t = Kind::Both)]
    kind: Kind,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Both,
    Intents,
    Guardrails,
    Project,
}

/// Print the schema
pub fn run(args: &Args) -> Exit {
    let schema = match args.kind {
        Kind::Both => palisade_intents::schema::combined(),
        Kind::Intents => palisade_intents::schema::intents().to_value(),
        Kind::Guardrails => palisade_intents::schema::guardrails().to_value(),
        Kind::Project => palisade_intents::schema::project().to_value(),
    };
    println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
    Exit::Ok
}
