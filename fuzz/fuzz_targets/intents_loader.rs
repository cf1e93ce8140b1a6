//! Any bytes as an intents file (and a project file): load and compile must
//! answer with diagnostics, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let files = vec![palisade_intents::RawFile {
        path: "fuzz.yaml".into(),
        bytes: data.to_vec(),
    }];
    if let Ok(repository) = palisade_intents::load_files(files) {
        let _ = palisade_compiler::compile(&repository);
    }
});
