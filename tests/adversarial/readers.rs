//! Class 11 (readers): a gzip flow log with one enormous line is read in
//! bounded memory, the line counted as unreadable at file:line; one record
//! from a namespace Kubernetes cannot hold does not make `discover` fail
//! with "this is a palisade bug". Judged on the CLI's output by hand.

use crate::util::palisade;
use std::io::Write;

const WEB_TO_API: &str = r#"{"flow":{"time":"2026-01-01T10:00:00Z","verdict":"FORWARDED","IP":{"source":"10.244.0.5","destination":"10.244.0.9"},"l4":{"TCP":{"destination_port":8080}},"source":{"namespace":"shop","pod_name":"web-1","labels":["k8s:app=web"]},"destination":{"namespace":"shop","pod_name":"api-1","labels":["k8s:app=api"]},"is_reply":false}}"#;

/// `gzip -c` of what `write` writes; None (and a loud skip) without gzip
fn gzip(write: impl FnOnce(&mut dyn Write) + Send + 'static) -> Option<Vec<u8>> {
    let mut child = std::process::Command::new("gzip")
        .args(["-c", "-1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| eprintln!("\n!!! SKIPPED: no gzip command ({e}) !!!\n"))
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let writer = std::thread::spawn(move || {
        write(&mut stdin);
    });
    let out = child.wait_with_output().ok()?;
    writer.join().ok()?;
    Some(out.stdout)
}

/// The issue's reproduction: a gzip log whose second line inflates to 512 MiB
#[test]
fn an_enormous_line_in_a_gzip_log_is_counted_at_its_place_and_the_rest_read() {
    let Some(compressed) = gzip(|w: &mut dyn Write| {
        writeln!(w, "{WEB_TO_API}").unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..512 {
            w.write_all(&chunk).unwrap();
        }
        writeln!(w).unwrap();
        writeln!(w, "{WEB_TO_API}").unwrap();
    }) else {
        return;
    };
    assert!(compressed.len() < 8 << 20, "{}", compressed.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json.gz");
    std::fs::write(&path, &compressed).unwrap();
    let out = palisade().arg("discover").arg("--flows").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("read 3 lines (hubble): 2 flows") && stderr.contains("1 unreadable"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:2:1: the line is", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("over the 1048576-byte limit"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("web -> api tcp/8080"));
}

/// The issue's reproduction: one record from namespace `Shop_Prod`
#[test]
fn one_record_from_a_namespace_kubernetes_cannot_hold_is_counted_and_discover_goes_on() {
    let odd = WEB_TO_API.replacen(r#""namespace":"shop""#, r#""namespace":"Shop_Prod""#, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json");
    std::fs::write(&path, format!("{WEB_TO_API}\n{odd}\n")).unwrap();
    let out = palisade().arg("discover").arg("--flows").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("palisade bug"), "{stderr}");
    assert!(
        stderr.contains("1 connections have an end that could not be placed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("its namespace is not one Kubernetes allows"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("web -> api tcp/8080") && !stdout.contains("Shop_Prod"),
        "{stdout}"
    );
}

/// Neighbours: labels, service accounts and per-replica-only labels that
/// would make invalid intents, and a port-0 record
#[test]
fn odd_labels_accounts_and_ports_do_not_make_discover_fail() {
    let records = [
        WEB_TO_API.to_string(),
        WEB_TO_API.replacen("k8s:app=web", "k8s:app=we b", 1),
        WEB_TO_API.replacen(
            "k8s:app=web",
            "k8s:app=web\",\"k8s:io.cilium.k8s.policy.serviceaccount=Web*",
            1,
        ),
        WEB_TO_API.replacen("k8s:app=api", "k8s:pod-template-hash=abc", 1),
        WEB_TO_API.replacen("8080", "0", 1),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json");
    std::fs::write(&path, records.join("\n")).unwrap();
    let out = palisade().arg("discover").arg("--flows").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("palisade bug"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:5:", path.display())) && stderr.contains("port 0"),
        "{stderr}"
    );
}
