//! Any line through every flow reader (Hubble, Calico, Envoy).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &str| {
    for format in palisade_targets::flows::formats() {
        let _ = format.recognizes(line);
        let _ = format.read(line);
    }
});
