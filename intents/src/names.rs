//! Kubernetes' rules for the names and labels a user value becomes: checked on
//! load, so nothing the API server (or a layer that reads the value as a
//! pattern) would read differently ever reaches an emitter.
//!
//! The rules are those of k8s.io/apimachinery/pkg/util/validation
//! (`IsDNS1123Label`, `IsDNS1123Subdomain`, `IsDNS1035Label`) and
//! k8s.io/apimachinery/pkg/api/validate/content (`IsLabelKey`, which
//! `IsQualifiedName` now is, and `IsLabelValue`, which `IsValidLabelValue` is).

/// `IsDNS1123Label`: at most 63 characters of `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
/// Namespace names (`ValidateNamespaceName`) and everything that becomes a label
/// value and an object-name stem.
pub fn is_dns1123_label(text: &str) -> bool {
    text.len() <= 63 && is_rfc1123_label_syntax(text)
}

/// `IsDNS1123Subdomain`: at most 253 characters of dot-separated
/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` parts. Service-account names
/// (`ValidateServiceAccountName` is `NameIsDNSSubdomain`) and label-key prefixes.
/// The regex bounds only the whole, not each part: so does this.
pub fn is_dns1123_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_rfc1123_label_syntax)
}

/// `IsDNS1035Label`: at most 63 characters of `[a-z]([-a-z0-9]*[a-z0-9])?`.
/// Service object names (`ValidateServiceName` is `NameIsDNS1035Label`).
pub fn is_dns1035_label(text: &str) -> bool {
    is_dns1123_label(text) && text.starts_with(|c: char| c.is_ascii_lowercase())
}

fn is_rfc1123_label_syntax(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// The name part of a qualified name, and a label value when not empty:
/// at most 63 characters of `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Why `key` is not a label key (`IsLabelKey`), if it is not: `[prefix/]name`,
/// the prefix a DNS-1123 subdomain, the name a qualified-name part; one `/` at most
pub fn label_key_problem(key: &str) -> Option<&'static str> {
    let mut parts = key.split('/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => return Some("a label key has at most one `/`"),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Some("the prefix before `/` is empty");
        }
        if !is_dns1123_subdomain(prefix) {
            return Some("the prefix before `/` must be a lower-case DNS subdomain of at most 253 characters");
        }
    }
    if name.is_empty() {
        return Some("the name is empty");
    }
    if !is_qualified_name_part(name) {
        return Some(
            "the name must be at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit",
        );
    }
    None
}

/// `IsLabelValue`: empty, or a qualified-name part
/// A label key Kubernetes accepts (`IsQualifiedName`, the prefix a DNS-1123 subdomain)
pub fn is_label_key(key: &str) -> bool {
    label_key_problem(key).is_none()
}

pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_qualified_name_part(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases of apimachinery's validation_test.go (TestIsDNS1123Label,
    /// TestIsDNS1123Subdomain, TestIsDNS1035Label, TestIsQualifiedName,
    /// TestIsValidLabelValue), checked by hand against the regexes above
    #[test]
    fn names_follow_apimachinery() {
        for good in [
            "a",
            "ab",
            "abc",
            "a1",
            "a-1",
            "a--1--2--b",
            "0",
            "01",
            "012",
            "1a",
            "1-a",
            "1--a--b--2",
        ] {
            assert!(is_dns1123_label(good), "{good}");
        }
        for bad in [
            "", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1", "_", "a_", "_a", "a_b", "1_", "_1",
            "1_2", "*", "a.b",
        ] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        assert!(is_dns1123_label(&"a".repeat(63)));
        assert!(!is_dns1123_label(&"a".repeat(64)));

        for good in ["a", "a.a", "1.a", "a-1.a--1--2--b", "0.a", "a.b.c.d.e", "aaa.bbb.ccc"] {
            assert!(is_dns1123_subdomain(good), "{good}");
        }
        assert!(is_dns1123_subdomain(&"a".repeat(253)), "only the whole is bounded");
        for bad in ["", "A", "a.", ".a", "a..b", "a_b", "-a.b", "a.b-", "frontend*", "*"] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));

        assert!(is_dns1035_label("istio-egressgateway"));
        assert!(!is_dns1035_label("1a"), "a DNS-1035 label starts with a letter");
    }

    #[test]
    fn label_keys_and_values_follow_apimachinery() {
        for good in [
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "1234",
            "simple/simple",
            "now-with-dashes/simple",
            "now-with-dashes/now-with-dashes",
            "now.with.dots/simple",
            "now-with.dashes-and.dots/simple",
            "1-num.2-num/3-num",
            "1234/5678",
            "1.2.3.4/5678",
            "Uppercase_Is_OK_123",
            "example.com/Uppercase_Is_OK_123",
            "requests.storage-foo",
            "app.kubernetes.io/name",
        ] {
            assert_eq!(label_key_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "nospecialchars%^=@",
            "cantendwithadash-",
            "-cantstartwithadash-",
            "only/one/slash",
            "Example.com/abc",
            "example_com/abc",
            "example.com/",
            "/simple",
            &format!("{}/a", "a".repeat(254)),
            &"a".repeat(64),
        ] {
            assert!(label_key_problem(bad).is_some(), "{bad}");
        }
        for good in [
            "",
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "end-with-num-1",
            "1234",
            "A",
            "AB",
            "AbC",
            "a_b",
            "a.b",
            &"a".repeat(63),
        ] {
            assert!(is_label_value(good), "{good}");
        }
        for bad in [
            "nospecialchars%^=@",
            "Tama-nui-te-rā.is.Māori.sun",
            "\\backslashes\\are\\bad",
            "-starts-with-dash",
            "ends-with-dash-",
            ".starts.with.dot",
            "ends.with.dot.",
            &"a".repeat(64),
            "a b",
        ] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }
}
