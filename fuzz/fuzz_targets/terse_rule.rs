//! Any text as a terse rule (`a -> b tcp/80`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = palisade_intents::terse::parse(text);
});
