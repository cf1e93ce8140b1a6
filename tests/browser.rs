//! The HTML map and report in a real browser: headless Chromium (Debian's
//! `chromium`, installed by .ci/run) runs the page's script, and the DOM it
//! leaves behind says whether nodes and edges were drawn and whether the
//! filters hide what they should. A screenshot of each page is kept in
//! target/browser-artifacts/.
//!
//! Without Chromium the tests say so and skip, except under CI=true.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var("PALISADE_CHROMIUM").unwrap_or_default(),
        "/usr/bin/chromium".into(),
    ];
    let found = candidates.iter().map(PathBuf::from).find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Chromium is missing under CI=true: .ci/run installs Debian's `chromium`"
        );
        eprintln!("!! SKIPPED: no Chromium at /usr/bin/chromium (apt-get install chromium, or set PALISADE_CHROMIUM)");
    }
    found
}

/// Run the page in headless Chromium at 1,400 px; the DOM after its scripts ran
fn dom(chromium: &Path, page: &Path, screenshot: Option<&Path>) -> String {
    dom_at(chromium, page, 1400, screenshot)
}

/// Run the page in a window `width` px wide; the DOM after its scripts ran
fn dom_at(chromium: &Path, page: &Path, width: u32, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]);
    command.arg(format!("--window-size={width},1000"));
    command.arg(format!("--user-data-dir={}", profile.path().display()));
    if let Some(png) = screenshot {
        let mut shot = std::process::Command::new(chromium);
        shot.args(command.get_args());
        shot.arg(format!("--screenshot={}", png.display()));
        shot.arg(format!("file://{}", page.display()));
        let status = shot.output().unwrap().status;
        assert!(status.success(), "chromium --screenshot failed");
    }
    command.arg("--dump-dom").arg(format!("file://{}", page.display()));
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write `palisade <args> --out FILE` for the zero-trust example with its flows
fn page(dir: &Path, command: &str, file: &str) -> PathBuf {
    let out = dir.join(file);
    Command::cargo_bin("palisade")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            command,
            "examples/zero-trust",
            "--flows",
            "examples/zero-trust/flows/hubble.jsonl",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    out
}

/// The data the page draws, as embedded in it
fn data(html: &str) -> serde_json::Value {
    let start = html
        .find(r#"<script id="palisade-data" type="application/json">"#)
        .unwrap();
    let rest = &html[start..];
    let json = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    serde_json::from_str(&json.replace("<\\/", "</")).unwrap()
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

/// The `class` values of the elements whose class starts with `prefix`
fn classes<'a>(dom: &'a str, prefix: &str) -> Vec<&'a str> {
    dom.match_indices(&format!("class=\"{prefix}"))
        .map(|(i, _)| {
            let rest = &dom[i + 7..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

fn visible(classes: &[&str]) -> usize {
    classes.iter().filter(|c| !c.split(' ').any(|w| w == "hidden")).count()
}

/// The page with `script` run after its own, at the end of the body
fn with_script(html: &str, dir: &Path, file: &str, script: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(
        &path,
        html.replace("</body>", &format!("<script>{script}</script></body>")),
    )
    .unwrap();
    path
}

/// Measures the drawn map from the DOM, as a reader's eye would: every
/// visible label's box (getBoundingClientRect) against every other and
/// against points sampled every 3 px along every visible edge
/// (getPointAtLength); and whether each edge ends in an arrowhead marker.
/// The verdict lands in `<pre id="measured">` as JSON.
const MEASURE: &str = r##"
(function () {
  function shown(e) { return !e.closest(".hidden"); }
  var texts = [].slice.call(document.querySelectorAll("#palisade-world text")).filter(shown);
  var rects = texts.map(function (t) { return t.getBoundingClientRect(); });
  var paths = [].slice.call(document.querySelectorAll("#palisade-world path.edge")).filter(shown);
  var overlaps = [], arrowless = [], points = 0;
  function note(text) { if (overlaps.length < 20) overlaps.push(text); }
  for (var i = 0; i < rects.length; i++) for (var j = i + 1; j < rects.length; j++) {
    var a = rects[i], b = rects[j];
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
      note("label '" + texts[i].textContent + "' overlaps label '" + texts[j].textContent + "'");
  }
  paths.forEach(function (p) {
    var name = p.getAttribute("data-from") + " -> " + p.getAttribute("data-to");
    var id = ((p.getAttribute("marker-end") || "").match(/^url\(#(.+)\)$/) || [])[1];
    var marker = id && document.getElementById(id);
    if (!marker || marker.tagName.toLowerCase() !== "marker" || !marker.querySelector("path")) arrowless.push(name);
    var ctm = p.getScreenCTM(), total = p.getTotalLength();
    for (var s = 0; s <= total; s += 3) {
      var q = p.getPointAtLength(s), at = new DOMPoint(q.x, q.y).matrixTransform(ctm);
      points += 1;
      for (var k = 0; k < rects.length; k++) {
        var r = rects[k];
        if (at.x > r.left - 1 && at.x < r.right + 1 && at.y > r.top - 1 && at.y < r.bottom + 1)
          note("edge " + name + " runs over label '" + texts[k].textContent + "'");
      }
    }
  });
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify({ labels: rects.length, edges: paths.length, points: points,
    overlaps: overlaps, arrowless: arrowless, height: document.documentElement.scrollHeight,
    view: document.getElementById("filter-view").value });
  document.body.appendChild(pre);
})();
"##;

/// Tick every kind of edge, baseline too, so everything is measured
const SHOW_ALL: &str = r#"document.querySelectorAll("input[data-show]").forEach(function (box) {
  if (!box.checked) { box.checked = true; box.dispatchEvent(new Event("change")); } });"#;

fn measured(dom: &str) -> serde_json::Value {
    let start = dom.find(r#"<pre id="measured">"#).expect("the measuring script ran") + 19;
    let json = &dom[start..start + dom[start..].find("</pre>").unwrap()];
    serde_json::from_str(
        &json
            .replace("&quot;", "\"")
            .replace("&gt;", ">")
            .replace("&lt;", "<")
            .replace("&amp;", "&"),
    )
    .unwrap()
}

/// Assert the measured map is legible: labels and edges drawn, none on another
fn assert_legible(m: &serde_json::Value, what: &str) {
    assert!(
        m["edges"].as_u64().unwrap() > 0 && m["labels"].as_u64().unwrap() > 0,
        "{what}: nothing drawn: {m}"
    );
    assert_eq!(m["overlaps"], serde_json::json!([]), "{what}: overlaps");
    assert_eq!(
        m["arrowless"],
        serde_json::json!([]),
        "{what}: edges without an arrowhead"
    );
}

/// A repository of `namespaces` x `services`: a call tree inside each
/// namespace, a tree of namespaces (each calls the one that serves it), and
/// now and then a DNS name outside
fn repository(dir: &Path, namespaces: usize, services: usize) {
    std::fs::create_dir_all(dir.join("intents")).unwrap();
    std::fs::write(
        dir.join("palisade.yaml"),
        "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: generated }\nspec:\n  targets: [cilium]\n",
    )
    .unwrap();
    for n in 0..namespaces {
        let mut text = format!(
            "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: team-{n:02}, namespace: team-{n:02} }}\nspec:\n  posture: default-deny\n  baseline: [dns]\n  services:\n"
        );
        for s in 0..services {
            text += &format!("    svc-{s:02}: {{ selector: {{ app: svc-{s:02} }}, ports: {{ http: tcp/8080 }} }}\n");
        }
        text += "  allow:\n";
        for s in 1..services {
            text += &format!("    - svc-{:02} -> svc-{s:02} http\n", (s - 1) / 2);
        }
        if n > 0 {
            text += &format!(
                "    - svc-{:02} -> team-{:02}/svc-00 tcp/8080\n",
                services - 1,
                (n - 1) / 3
            );
        }
        if n % 7 == 3 {
            text += &format!("    - svc-02 -> https://api.vendor{n}.example.com\n");
        }
        std::fs::write(dir.join("intents").join(format!("team-{n:02}.yaml")), text).unwrap();
    }
}

/// `palisade graph REPO --out FILE`
fn graph_of(repo: &Path, out: &Path) -> String {
    Command::cargo_bin("palisade")
        .unwrap()
        .arg("graph")
        .arg(repo)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    std::fs::read_to_string(out).unwrap()
}

fn view<'a>(data: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    data["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no view {id}"))
}

#[test]
fn the_map_draws_every_node_and_edge_and_its_filters_hide_the_rest() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let graph = page(dir.path(), "graph", "graph.html");
    let html = std::fs::read_to_string(&graph).unwrap();
    let data = data(&html);
    assert_eq!(data["default_view"], "all", "a small map opens on every service");
    let all = view(&data, "all");
    let services: usize = data["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["nodes"].as_array().unwrap().len())
        .sum();
    let outside = data["outside"].as_array().unwrap().len();
    assert_eq!(all["nodes"].as_array().unwrap().len(), services + outside);
    let intent_edges = data["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["baseline"] == false)
        .count();
    let flows = data["flows"].as_array().unwrap();
    assert!(
        intent_edges >= 3 && !flows.is_empty(),
        "the example has intents and flows"
    );

    let drawn = dom(&chromium, &graph, Some(&artifacts().join("graph.png")));
    assert!(drawn.contains(r#"data-drawn="true""#), "the script ran to the end");
    let edges = classes(&drawn, "edge ");
    assert_eq!(
        edges.len(),
        data["edges"].as_array().unwrap().len() + flows.len(),
        "one curve per edge and flow"
    );
    // Baseline edges start hidden; intents and every verdict are shown.
    assert_eq!(visible(&edges), intent_edges + flows.len());
    // Nodes whose every edge is hidden (the baseline's DNS, API server) go too.
    let nodes = classes(&drawn, "node ");
    assert!(visible(&nodes) < nodes.len(), "{nodes:?}");
    assert!(
        drawn.contains(r#"<tr class="flow would-drop">"#),
        "the flows table lists the drops"
    );

    // The filters, driven as a user would: open the namespace, untick all
    // but `would drop`; the URL then carries them.
    let script = r#"
      var view = document.getElementById("filter-view"); view.value = "ns:shop"; view.dispatchEvent(new Event("change"));
      document.querySelectorAll("input[data-show]").forEach(function (box) {
        if (box.getAttribute("data-show") !== "would-drop") { box.checked = false; box.dispatchEvent(new Event("change")); }
      });
      var p = document.createElement("p"); p.id = "hash"; p.textContent = location.hash; document.body.appendChild(p);"#;
    let filtered = with_script(&html, dir.path(), "filtered.html", script);
    let after = dom(&chromium, &filtered, Some(&artifacts().join("graph-filtered.png")));
    let would_drop = flows.iter().filter(|f| f["verdict"] == "would-drop").count();
    let edges = classes(&after, "edge ");
    let shown: Vec<&&str> = edges.iter().filter(|c| !c.contains("hidden")).collect();
    assert_eq!(shown.len(), would_drop, "only the would-drop flows stay: {shown:?}");
    assert!(shown.iter().all(|c| c.contains("would-drop")));
    assert!(after.contains(&format!("{would_drop} edges shown")));
    assert!(
        after.contains(r#"<p id="hash">#view=ns%3Ashop&amp;show=would-drop</p>"#),
        "the URL holds the filters"
    );
    assert_eq!(
        count(&after, r#"<tr class="flow "#),
        would_drop,
        "the table follows the filters"
    );

    // The same filters from a link.
    let linked = dom(
        &chromium,
        Path::new(&format!("{}#view=ns:shop&show=would-drop", graph.display())),
        None,
    );
    assert_eq!(visible(&classes(&linked, "edge ")), would_drop);
}

#[test]
fn a_destination_is_one_node_whether_an_intent_or_a_flow_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(&std::fs::read_to_string(page(dir.path(), "graph", "graph.html")).unwrap());
    let ids: Vec<&str> = view(&data, "all")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    for twin in ["api.stripe.com (198.51.100.7)", "kube-system/kube-dns"] {
        assert!(
            !ids.contains(&twin),
            "{twin} is drawn beside its intent's node: {ids:?}"
        );
    }
    let flows = data["flows"].as_array().unwrap();
    let to = |id: &str| flows.iter().filter(|f| f["to"] == id).count();
    assert!(to("api.stripe.com") >= 1 && to("dns") >= 1, "{flows:?}");
    assert!(flows
        .iter()
        .any(|f| f["observed_as"] == "shop/backend -> api.stripe.com (198.51.100.7)"));
}

#[test]
fn no_label_overlaps_an_edge_or_another_label_at_800_and_1400_px() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(page(dir.path(), "graph", "graph.html")).unwrap();
    let everything = with_script(&html, dir.path(), "measure.html", &format!("{SHOW_ALL}{MEASURE}"));
    for width in [800, 1400] {
        let png = artifacts().join(format!("graph-{width}.png"));
        let m = measured(&dom_at(&chromium, &everything, width, Some(&png)));
        assert_legible(&m, &format!("zero-trust at {width} px"));
    }
    // The measure sees an overlap when there is one: a label put on an edge.
    let misplaced = r##"
      var p = document.querySelector("#palisade-world path.edge:not(.hidden)");
      var q = p.getPointAtLength(p.getTotalLength() / 4);
      var t = document.createElementNS("http://www.w3.org/2000/svg", "text");
      t.setAttribute("x", q.x - 6); t.setAttribute("y", q.y + 4); t.textContent = "XX";
      p.parentNode.appendChild(t);"##;
    let broken = with_script(
        &html,
        dir.path(),
        "broken.html",
        &format!("{SHOW_ALL}{misplaced}{MEASURE}"),
    );
    let m = measured(&dom_at(&chromium, &broken, 1400, None));
    let overlaps = m["overlaps"].as_array().unwrap();
    assert!(
        overlaps
            .iter()
            .any(|o| o.as_str().unwrap().contains("runs over label 'XX'")),
        "{m}"
    );
}

#[test]
fn clicking_a_would_drop_edge_shows_the_line_to_paste_and_the_rule_that_blocks_it() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(page(dir.path(), "graph", "graph.html")).unwrap();
    let data = data(&html);
    let script = r#"
      var edge = document.querySelector("path.edge.would-drop");
      edge.dispatchEvent(new MouseEvent("click", { bubbles: true }));
      var pre = document.createElement("pre"); pre.id = "clicked";
      pre.textContent = JSON.stringify({ from: edge.getAttribute("data-from"), to: edge.getAttribute("data-to"),
        details: document.getElementById("palisade-details").innerText });
      document.body.appendChild(pre);"#;
    let clicked = dom(&chromium, &with_script(&html, dir.path(), "click.html", script), None);
    let start = clicked.find(r#"<pre id="clicked">"#).unwrap() + 18;
    let json = &clicked[start..start + clicked[start..].find("</pre>").unwrap()];
    let shown: serde_json::Value = serde_json::from_str(
        &json
            .replace("&quot;", "\"")
            .replace("&gt;", ">")
            .replace("&lt;", "<")
            .replace("&amp;", "&"),
    )
    .unwrap();
    let flow = data["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["verdict"] == "would-drop" && f["from"] == shown["from"] && f["to"] == shown["to"])
        .expect("the clicked edge is a would-drop flow");
    let details = shown["details"].as_str().unwrap();
    assert!(
        details.contains(flow["fix"].as_str().unwrap()),
        "the line to paste: {details}"
    );
    assert!(
        details.contains(&format!("to admit it, add to {}", flow["add_to"].as_str().unwrap())),
        "{details}"
    );
    let (target, rules) = flow["blocked_by"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .expect("a target drops it");
    assert!(details.contains(&format!("blocked by {target}:")), "{details}");
    assert!(
        details.contains(rules[0].as_str().unwrap()),
        "the blocking rule: {details}"
    );
}

#[test]
fn a_map_of_1000_services_opens_on_namespaces_and_stays_legible() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    repository(&repo, 50, 20);
    let html = graph_of(&repo, &dir.path().join("big.html"));
    assert_eq!(
        html,
        graph_of(&repo, &dir.path().join("again.html")),
        "the same input draws the same bytes"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "one self-contained file"
    );
    let data = data(&html);
    assert_eq!(data["default_view"], "namespaces", "1,000 services open collapsed");
    assert_eq!(
        view(&data, "namespaces")["nodes"].as_array().unwrap().len(),
        51,
        "50 namespaces and the outside"
    );
    let Some(chromium) = chromium() else { return };
    let big = dir.path().join("big.html");
    let overview = with_script(&html, dir.path(), "overview.html", &format!("{SHOW_ALL}{MEASURE}"));
    let m = measured(&dom_at(
        &chromium,
        &overview,
        1400,
        Some(&artifacts().join("graph-1000.png")),
    ));
    assert_legible(&m, "1,000 services, namespaces");
    assert_eq!(m["view"], "namespaces");
    let opened = with_script(&html, dir.path(), "opened.html", &format!(
        "location.hash = 'view=ns:team-04'; window.dispatchEvent(new HashChangeEvent('hashchange')); {SHOW_ALL}{MEASURE}"
    ));
    let m = measured(&dom_at(
        &chromium,
        &opened,
        800,
        Some(&artifacts().join("graph-1000-team-04.png")),
    ));
    assert_eq!(m["view"], "ns:team-04");
    assert_legible(&m, "1,000 services, one namespace opened at 800 px");
    assert!(big.is_file());
}

#[test]
fn the_report_answers_why_backend_may_reach_stripe_and_which_rule_does_it() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = page(dir.path(), "report", "report.html");
    let drawn = dom(&chromium, &report, Some(&artifacts().join("report.png")));
    assert!(
        drawn.contains("Verified: the manifests decide all"),
        "verification passed"
    );
    // The edge row: the intent line, where it is written, and Cilium's object.
    let row_start = drawn
        .find(r#"data-to="api.stripe.com""#)
        .expect("a row for backend -> api.stripe.com");
    let row = &drawn[row_start..row_start + drawn[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("backend -&gt; https://api.stripe.com"), "{row}");
    assert!(row.contains("intents/shop.yaml:27"), "{row}");
    assert!(row.contains("CiliumNetworkPolicy shop/backend"), "{row}");
    // Named ports with their numbers, the namespace's baseline, the request
    // of a drop.
    assert!(drawn.contains("http (tcp/8080)"), "the named port and its number");
    let baseline = &drawn[drawn.find(r#"<table class="baseline">"#).expect("a baseline table")..];
    let baseline = &baseline[..baseline.find("</table>").unwrap()];
    assert!(
        baseline.contains("<code>dns</code>") && baseline.contains("udp/53"),
        "{baseline}"
    );
    assert!(
        drawn.contains(r#"<code class="request">POST /admin/reindex</code>"#),
        "the request that is dropped"
    );
    // What the other targets would refuse, and the would-drop flows.
    assert!(drawn.contains("cannot allow a DNS name"));
    assert_eq!(count(&drawn, r#"<tr class="would-drop">"#), 2);
    // The map inside the report is drawn too.
    assert!(classes(&drawn, "node ").len() >= 3);
    assert!(visible(&classes(&drawn, "edge ")) >= 3);
}

#[test]
fn the_report_of_40_services_keeps_to_a_few_screens() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    repository(&repo, 4, 10);
    let out = dir.path().join("report.html");
    Command::cargo_bin("palisade")
        .unwrap()
        .arg("report")
        .arg(&repo)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let html = std::fs::read_to_string(&out).unwrap();
    let page = with_script(&html, dir.path(), "measure.html", MEASURE);
    let m = measured(&dom_at(
        &chromium,
        &page,
        1400,
        Some(&artifacts().join("report-40.png")),
    ));
    let height = m["height"].as_u64().unwrap();
    assert!(height < 6_000, "the 40-service report is {height} px tall");
    assert!(count(&html, "<details") >= 4, "long sections fold");
}
