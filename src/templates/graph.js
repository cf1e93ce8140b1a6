// Draws the service map from the JSON in #palisade-data: one column per
// namespace, outside destinations last, intent edges and observed flows as
// curves. Filters (namespace, kind/verdict, search) also read the URL hash,
// `#namespace=shop&show=intent,would-drop&find=stripe`, so a link can carry them.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("palisade-data").textContent);
  var svgNS = "http://www.w3.org/2000/svg";
  var svg = document.getElementById("palisade-svg");
  var details = document.getElementById("palisade-details");
  var namespaceFilter = document.getElementById("filter-namespace");
  var findFilter = document.getElementById("filter-find");
  var kindBoxes = Array.prototype.slice.call(document.querySelectorAll("input[data-show]"));
  var COLUMN = 250, ROW = 42, TOP = 48, NODE_W = 200, NODE_H = 28;
  var place = {};
  var nodes = [];
  var edges = [];

  function el(name, attrs, parent) {
    var e = document.createElementNS(svgNS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }

  var columns = data.namespaces.map(function (g) {
    return { title: g.name + " (" + g.posture + ")", namespace: g.name, nodes: g.nodes };
  });
  if (data.outside.length) columns.push({ title: "outside the namespaces", namespace: "", nodes: data.outside });
  var height = 0;
  columns.forEach(function (column, c) {
    var x = 16 + c * COLUMN;
    var bottom = TOP + column.nodes.length * ROW;
    var group = el("g", { "class": "namespace", "data-namespace": column.namespace }, svg);
    el("rect", { x: x, y: 10, width: COLUMN - 24, height: bottom - 4 }, group);
    el("text", { x: x + 10, y: 30 }, group).textContent = column.title;
    column.nodes.forEach(function (node, r) {
      var y = TOP + r * ROW;
      place[node.id] = { x: x + 13, y: y, namespace: column.namespace };
      var g = el("g", { "class": "node" + (column.namespace ? "" : " outside"), "data-id": node.id,
                        "data-namespace": column.namespace }, svg);
      el("rect", { x: x + 13, y: y, width: NODE_W, height: NODE_H }, g);
      var label = node.label.length > 30 ? node.label.slice(0, 29) + "…" : node.label;
      el("text", { x: x + 21, y: y + 18 }, g).textContent = label;
      el("title", {}, g).textContent = node.id + " (" + node.kind + ")";
      g.addEventListener("click", function () { showNode(node, g); });
      nodes.push({ node: node, element: g });
    });
    height = Math.max(height, bottom + 16);
  });
  svg.setAttribute("width", 32 + columns.length * COLUMN);
  svg.setAttribute("height", height + 16);

  function curve(a, b) {
    var y1 = a.y + NODE_H / 2, y2 = b.y + NODE_H / 2;
    if (a.x === b.x) {
      var x = a.x + NODE_W, bend = 40 + Math.min(Math.abs(y2 - y1) / 4, 60);
      return "M" + x + " " + y1 + " C" + (x + bend) + " " + y1 + " " + (x + bend) + " " + y2 + " " + x + " " + y2;
    }
    var x1 = a.x < b.x ? a.x + NODE_W : a.x, x2 = a.x < b.x ? b.x : b.x + NODE_W;
    var mid = (x1 + x2) / 2;
    return "M" + x1 + " " + y1 + " C" + mid + " " + y1 + " " + mid + " " + y2 + " " + x2 + " " + y2;
  }

  function addEdge(item, show, flow) {
    var a = place[item.from], b = place[item.to];
    if (!a || !b) return;
    var path = el("path", { d: curve(a, b), "class": "edge " + show, "data-show": show,
                            "data-from": item.from, "data-to": item.to }, svg);
    el("title", {}, path).textContent = flow
      ? item.verdict + ": " + item.from + " -> " + item.to + " " + item.port + " (" + item.count + " flows)"
      : item.intent + "  (" + item.at + ")";
    path.addEventListener("click", function () { flow ? showFlow(item, path) : showEdge(item, path); });
    edges.push({ item: item, element: path, show: show, from: a, to: b });
  }
  data.edges.forEach(function (e) { addEdge(e, e.baseline ? "baseline" : "intent", false); });
  data.flows.forEach(function (f) { addEdge(f, f.verdict, true); });

  function select(element) {
    Array.prototype.forEach.call(svg.querySelectorAll(".selected"), function (s) { s.classList.remove("selected"); });
    element.classList.add("selected");
  }
  function line(parent, label, text, code) {
    var p = document.createElement("div");
    var b = document.createElement("b");
    b.textContent = label + " ";
    p.appendChild(b);
    var t = document.createElement(code ? "code" : "span");
    t.textContent = text;
    p.appendChild(t);
    parent.appendChild(p);
  }
  function reset(title) {
    details.textContent = "";
    var h = document.createElement("h3");
    h.textContent = title;
    details.appendChild(h);
  }
  function showEdge(edge, element) {
    select(element);
    reset(edge.from + " → " + edge.to);
    line(details, "ports:", edge.ports);
    if (edge.http.length) line(details, "HTTP:", edge.http.join("; "));
    line(details, "intent:", edge.intent, true);
    line(details, "written at:", edge.at, true);
    Object.keys(edge.rules).forEach(function (target) {
      line(details, target + ":", edge.rules[target].join(", "), true);
    });
    if (!Object.keys(edge.rules).length) line(details, "rules:", "none rendered (see the targets' refusals)");
  }
  function showFlow(flow, element) {
    select(element);
    reset(flow.from + " → " + flow.to);
    line(details, "observed:", flow.port + ", " + flow.count + " flows");
    line(details, "verdict:", flow.verdict);
  }
  function showNode(node, element) {
    select(element);
    reset(node.id);
    line(details, "kind:", node.kind);
    var out = edges.filter(function (e) { return e.item.from === node.id && !e.element.classList.contains("hidden"); });
    var into = edges.filter(function (e) { return e.item.to === node.id && !e.element.classList.contains("hidden"); });
    line(details, "edges out:", String(out.length));
    line(details, "edges in:", String(into.length));
  }

  function apply() {
    var namespace = namespaceFilter.value;
    var find = findFilter.value.trim().toLowerCase();
    var shown = {};
    kindBoxes.forEach(function (box) { shown[box.getAttribute("data-show")] = box.checked; });
    var touched = {};
    var visibleEdges = 0;
    edges.forEach(function (e) {
      var inNamespace = !namespace || e.from.namespace === namespace || e.to.namespace === namespace;
      var found = !find || e.item.from.toLowerCase().indexOf(find) >= 0 || e.item.to.toLowerCase().indexOf(find) >= 0;
      var visible = shown[e.show] && inNamespace && found;
      e.element.classList.toggle("hidden", !visible);
      if (visible) {
        visibleEdges += 1;
        touched[e.item.from] = true;
        touched[e.item.to] = true;
      }
    });
    var visibleNodes = 0;
    nodes.forEach(function (n) {
      var home = place[n.node.id].namespace;
      var visible = touched[n.node.id] || (!find && (!namespace || home === namespace));
      n.element.classList.toggle("hidden", !visible);
      if (visible) visibleNodes += 1;
    });
    document.getElementById("palisade-count").textContent = visibleNodes + " nodes, " + visibleEdges + " edges shown";
  }

  data.namespaces.forEach(function (g) {
    var option = document.createElement("option");
    option.value = g.name;
    option.textContent = g.name;
    namespaceFilter.appendChild(option);
  });
  var hash = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
    var kv = pair.split("=");
    if (kv[0]) hash[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || "");
  });
  if (hash.namespace) namespaceFilter.value = hash.namespace;
  if (hash.find) findFilter.value = hash.find;
  if (hash.show !== undefined) {
    var wanted = hash.show.split(",");
    kindBoxes.forEach(function (box) { box.checked = wanted.indexOf(box.getAttribute("data-show")) >= 0; });
  }
  namespaceFilter.addEventListener("change", apply);
  findFilter.addEventListener("input", apply);
  kindBoxes.forEach(function (box) { box.addEventListener("change", apply); });
  apply();
  document.body.setAttribute("data-drawn", "true");
})();
