//! Names of generated objects: valid under the API's limits, and never the
//! same for two different things. A name collision is never silent: two
//! objects that would share a name are refused with both places named, because
//! the API would merge them (one broader for one group) or one would overwrite
//! the other.
//!
//! Limits (Kubernetes apimachinery `validation`): an object name is a DNS-1123
//! subdomain, at most 253 characters of `[a-z0-9.-]` that start and end with an
//! alphanumeric; a label value is at most 63 characters. A file name is at most
//! 255 bytes on the file systems GitOps checkouts live on.

use crate::Manifest;
use palisade_intents::Diag;
use std::collections::BTreeMap;

/// The longest object name the API accepts (`IsDNS1123Subdomain`)
pub const NAME_LIMIT: usize = 253;

/// The longest label value the API accepts (`IsValidLabelValue`)
pub const LABEL_LIMIT: usize = 63;

/// The longest file name (ext4, xfs, btrfs: 255 bytes)
pub const FILE_LIMIT: usize = 255;

/// Room for `-` and the 16 hex digits of [`hash`]
const HASH_SUFFIX: usize = 17;

/// A stable 64-bit digest of `text` (FNV-1a: the same on every run and every
/// Rust version), in 16 hex digits
pub fn hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A name fragment made from user text (a host, an address block): the text
/// itself when it is already made of name characters, else the text with
/// every other character replaced by `-` and a digest of the original
/// appended, so that two different texts never give the same fragment
/// (`api.stripe.com` and `api-stripe.com` stay apart; `*.stripe.com` and
/// `x.stripe.com` too).
pub fn part(raw: &str) -> String {
    let is_name_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let edges_ok =
        raw.starts_with(|c: char| c.is_ascii_alphanumeric()) && raw.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !raw.is_empty() && edges_ok && raw.chars().all(is_name_char) && !raw.contains("..") {
        return raw.to_string();
    }
    let mut cleaned = String::with_capacity(raw.len() + HASH_SUFFIX);
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        let next = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(next == '-' && (cleaned.is_empty() || cleaned.ends_with('-'))) {
            cleaned.push(next);
        }
    }
    let cleaned = cleaned.trim_end_matches('-');
    if cleaned.is_empty() {
        hash(raw)
    } else {
        format!("{cleaned}-{}", hash(raw))
    }
}

/// `name` when it fits in `limit` bytes, else its first bytes and a digest of
/// the whole name: bounded, and still different for different names
pub fn bounded(name: &str, limit: usize) -> String {
    if name.len() <= limit {
        return name.to_string();
    }
    let mut keep = limit.saturating_sub(HASH_SUFFIX);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    let head = name[..keep].trim_end_matches(['-', '.']);
    format!("{head}-{}", hash(name))
}

/// An object name within [`NAME_LIMIT`]
pub fn object(name: &str) -> String {
    bounded(name, NAME_LIMIT)
}

/// Refusals for objects that share a kind, namespace and name: the API would
/// keep one of them (or merge them); both places are named
pub fn duplicates(manifests: &[Manifest]) -> Vec<Diag> {
    // Keyed as the output folder names files, so that no file overwrites another
    let mut seen: BTreeMap<(&str, String), &Manifest> = BTreeMap::new();
    let mut diags = Vec::new();
    for manifest in manifests {
        let key = (manifest.namespace(), manifest.file_name());
        match seen.get(&key) {
            Some(first) => diags.push(
                Diag::error(
                    "name_collision",
                    format!(
                        "two objects would both be {} (from {} and from {})",
                        manifest.reference(),
                        first.source().unwrap_or_else(|| "palisade".into()),
                        manifest.source().unwrap_or_else(|| "palisade".into()),
                    ),
                )
                .help("the API keeps only one object of a name: rename one of the services or destinations involved"),
            ),
            None => {
                seen.insert(key, manifest);
            }
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_of_different_texts_differ() {
        let texts = [
            "api.stripe.com",
            "api-stripe.com",
            "*.stripe.com",
            "x.stripe.com",
            "10.0.0.0/8",
            "10-0-0-0-8",
            "A",
            "a",
        ];
        let parts: Vec<String> = texts.iter().map(|t| part(t)).collect();
        for (i, a) in parts.iter().enumerate() {
            for b in &parts[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(part("api.stripe.com"), "api.stripe.com");
        assert!(
            part("*.stripe.com").starts_with("stripe-com-"),
            "{}",
            part("*.stripe.com")
        );
    }

    #[test]
    fn fragments_are_name_characters() {
        for text in ["*.stripe.com", "10.0.0.0/8", "fe80::/10", "Shop_Prod", "..", "-", ""] {
            let p = part(text);
            assert!(
                p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'),
                "{p}"
            );
            assert!(p.starts_with(|c: char| c.is_ascii_alphanumeric()), "{p}");
            assert!(p.ends_with(|c: char| c.is_ascii_alphanumeric()), "{p}");
        }
    }

    #[test]
    fn long_names_are_cut_with_a_digest_of_the_whole() {
        let host = format!("{}.example.com", "a".repeat(240));
        let a = object(&format!("egress-{host}"));
        let b = object(&format!("egress-b{host}"));
        assert_eq!(a.len(), NAME_LIMIT);
        assert!(b.len() <= NAME_LIMIT);
        assert_ne!(a, b);
        assert_eq!(object(&a), a, "bounding is idempotent");
        assert_eq!(object("short"), "short");
        assert!(bounded(&"é".repeat(100), 63).len() <= 63);
    }
}
