// Draws the service map from the JSON in #palisade-data. The positions are
// palisade's (a layered layout computed when the page was written); this
// script only draws a view, pans and zooms, filters, and explains what is
// clicked. The filters live in the URL hash,
// `#view=ns:shop&show=intent,would-drop&find=stripe`, so a link carries them.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("palisade-data").textContent);
  var svgNS = "http://www.w3.org/2000/svg";
  var svg = document.getElementById("palisade-svg");
  var world = document.getElementById("palisade-world");
  var details = document.getElementById("palisade-details");
  var viewFilter = document.getElementById("filter-view");
  var findFilter = document.getElementById("filter-find");
  var flowRows = document.querySelector("#palisade-flows tbody");
  var flowNote = document.getElementById("palisade-flows-note");
  var kindBoxes = Array.prototype.slice.call(document.querySelectorAll("input[data-show]"));
  var MAX_ROWS = 500;
  var views = {};
  data.views.forEach(function (v) { views[v.id] = v; });
  var view = null, nodes = [], edges = [], selection = null;
  var zoom = { x: 0, y: 0, k: 1 };

  function el(name, attrs, parent) {
    var e = document.createElementNS(svgNS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(name, text, parent, cls) {
    var e = document.createElement(name);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }

  function draw(id) {
    view = views[id] || views[data.default_view];
    world.textContent = "";
    nodes = [];
    edges = [];
    selection = null;
    var paths = el("g", { "class": "paths" }, world);
    var labels = el("g", { "class": "labels" }, world);
    var boxes = el("g", { "class": "boxes" }, world);
    view.edges.forEach(function (e) {
      var path = el("path", { d: e.path, "class": "edge " + e.show, "data-show": e.show,
                              "data-from": e.from, "data-to": e.to, "marker-end": "url(#arrow-" + e.show + ")" }, paths);
      var g = el("g", { "class": "edge-label " + e.show }, labels);
      el("rect", { x: e.rect.x, y: e.rect.y, width: e.rect.w, height: e.rect.h }, g);
      el("text", { x: e.rect.x + e.rect.w / 2, y: e.rect.y + 13, "text-anchor": "middle" }, g).textContent = e.label;
      el("title", {}, path).textContent = e.from + " -> " + e.to + ": " + e.label;
      var item = { item: e, element: path, label: g };
      [path, g].forEach(function (t) { t.addEventListener("click", function () { showEdge(item); }); });
      edges.push(item);
    });
    view.nodes.forEach(function (n) {
      var g = el("g", { "class": "node " + n.kind + (n.group ? "" : " outside"), "data-id": n.id,
                        "data-group": n.group }, boxes);
      el("rect", { x: n.rect.x, y: n.rect.y, width: n.rect.w, height: n.rect.h }, g);
      el("text", { x: n.rect.x + 10, y: n.rect.y + 16, "class": "node-label" }, g).textContent = n.label;
      el("text", { x: n.rect.x + 10, y: n.rect.y + 31, "class": "node-sub" }, g).textContent = n.sub;
      el("title", {}, g).textContent = n.id + " (" + n.kind + ")";
      var item = { node: n, element: g };
      g.addEventListener("click", function () { showNode(item); });
      g.addEventListener("dblclick", function () { if (n.kind === "namespace" && n.group) open("ns:" + n.group); });
      nodes.push(item);
    });
    fit();
    reset("Click an edge or a node", view.title + ": " + view.nodes.length + " nodes, " + view.edges.length + " edges.");
    apply();
  }

  // Pan and zoom: the world group is translated and scaled; the wheel zooms
  // around the pointer, a drag on the background pans.
  function transform() {
    world.setAttribute("transform", "translate(" + zoom.x + " " + zoom.y + ") scale(" + zoom.k + ")");
  }
  function fit() {
    var width = svg.parentNode.clientWidth || 800;
    var k = Math.min(1, width / view.width);
    zoom = { x: 0, y: 0, k: Math.max(0.75, k) };
    var height = Math.max(240, Math.min(view.height * zoom.k + 4, window.innerHeight * 0.8));
    svg.setAttribute("height", String(Math.round(height)));
    transform();
  }
  function zoomBy(factor, cx, cy) {
    var k = Math.min(4, Math.max(0.1, zoom.k * factor));
    zoom.x = cx - (cx - zoom.x) * (k / zoom.k);
    zoom.y = cy - (cy - zoom.y) * (k / zoom.k);
    zoom.k = k;
    transform();
  }
  svg.addEventListener("wheel", function (event) {
    event.preventDefault();
    var box = svg.getBoundingClientRect();
    zoomBy(event.deltaY < 0 ? 1.2 : 1 / 1.2, event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (event) {
    if (event.target !== svg) return;
    drag = { x: event.clientX - zoom.x, y: event.clientY - zoom.y };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", function (event) {
    if (!drag) return;
    zoom.x = event.clientX - drag.x;
    zoom.y = event.clientY - drag.y;
    transform();
  });
  svg.addEventListener("pointerup", function () { drag = null; });
  Array.prototype.forEach.call(document.querySelectorAll("button[data-zoom]"), function (button) {
    button.addEventListener("click", function () {
      var how = button.getAttribute("data-zoom");
      if (how === "fit") {
        var k = Math.min((svg.parentNode.clientWidth || 800) / view.width, Number(svg.getAttribute("height")) / view.height);
        zoom = { x: 0, y: 0, k: Math.min(1, k) };
        transform();
      } else {
        zoomBy(how === "in" ? 1.25 : 0.8, 0, 0);
      }
    });
  });

  function select(element, what) {
    Array.prototype.forEach.call(world.querySelectorAll(".selected"), function (s) { s.classList.remove("selected"); });
    if (element) element.classList.add("selected");
    selection = what;
    table();
  }
  function line(parent, label, text, code, cls) {
    var p = html("div", null, parent, cls);
    html("b", label + " ", p);
    html(code ? "code" : "span", text, p);
    return p;
  }
  function reset(title, text) {
    details.textContent = "";
    html("h3", title, details);
    if (text) html("p", text, details);
  }
  function button(text, action) {
    var b = html("button", text, details);
    b.type = "button";
    b.addEventListener("click", action);
    return b;
  }
  function showEdge(item) {
    var e = item.item;
    select(item.element, { flows: e.flows, intents: e.intents });
    item.label.classList.add("selected");
    reset(e.from + " → " + e.to, e.show + ": " + e.label);
    e.intents.slice(0, 20).forEach(function (i) { intentLines(data.edges[i]); });
    e.flows.slice(0, 20).forEach(function (i) { flowLines(data.flows[i]); });
    var more = e.intents.length + e.flows.length - 40;
    if (more > 0) html("p", more + " more in the table below", details);
  }
  function intentLines(edge) {
    var box = html("div", null, details, "entry");
    line(box, "ports:", edge.ports);
    if (edge.http.length) line(box, "HTTP:", edge.http.join("; "));
    line(box, "intent:", edge.intent, true);
    line(box, "written at:", edge.at, true);
    Object.keys(edge.rules).forEach(function (target) {
      line(box, target + ":", edge.rules[target].join(", "), true);
    });
    if (!Object.keys(edge.rules).length) line(box, "rules:", "none rendered (see the targets' refusals)");
  }
  function flowLines(flow) {
    var box = html("div", null, details, "entry");
    line(box, flow.verdict + ":", flow.from + " → " + flow.to + " " + flow.port + ", " + flow.count + " flows");
    if (flow.observed_as) line(box, "observed as:", flow.observed_as);
    if (flow.request) line(box, "request:", flow.request, true);
    Object.keys(flow.blocked_by).forEach(function (target) {
      line(box, "blocked by " + target + ":", flow.blocked_by[target].join(", "), true, "blocked");
    });
    if (flow.fix) {
      line(box, "to admit it, add to " + flow.add_to + ":", flow.fix, true, "fix");
      var copy = html("button", "copy the line", box);
      copy.type = "button";
      copy.addEventListener("click", function () {
        if (navigator.clipboard) navigator.clipboard.writeText(flow.fix);
      });
    }
  }
  function showNode(item) {
    var n = item.node;
    var ids = n.members.length ? n.members : [n.id];
    select(item.element, { ids: ids });
    reset(n.label, n.kind === "namespace" ? n.sub : n.id + " (" + n.kind + ")");
    var out = edges.filter(function (e) { return e.item.from === n.id && !e.element.classList.contains("hidden"); });
    var into = edges.filter(function (e) { return e.item.to === n.id && !e.element.classList.contains("hidden"); });
    line(details, "edges out:", String(out.length));
    line(details, "edges in:", String(into.length));
    if (n.group && view.id !== "ns:" + n.group && views["ns:" + n.group]) {
      button("open namespace " + n.group, function () { open("ns:" + n.group); });
    }
    if (view.id !== "namespaces") button("show all namespaces", function () { open("namespaces"); });
  }
  function open(id) {
    viewFilter.value = id;
    draw(id);
  }

  // The flows table: what the view shows, narrowed to what is selected.
  function table() {
    var ticked = {}, shown = {};
    kindBoxes.forEach(function (box) { ticked[box.getAttribute("data-show")] = box.checked; });
    edges.forEach(function (e) {
      if (e.element.classList.contains("hidden")) return;
      e.item.flows.forEach(function (i) { if (ticked[data.flows[i].verdict]) shown[i] = true; });
    });
    var wanted = Object.keys(shown).map(Number).sort(function (a, b) { return a - b; }).filter(function (i) {
      if (!selection) return true;
      var f = data.flows[i];
      if (selection.ids) return selection.ids.indexOf(f.from) >= 0 || selection.ids.indexOf(f.to) >= 0;
      return selection.flows.indexOf(i) >= 0;
    });
    flowRows.textContent = "";
    wanted.slice(0, MAX_ROWS).forEach(function (i) {
      var f = data.flows[i];
      var tr = html("tr", null, flowRows, "flow " + f.verdict);
      html("td", f.verdict, tr);
      html("td", f.from, tr);
      html("td", f.to, tr);
      html("td", f.port, tr);
      html("td", String(f.count), tr);
      html("td", f.request || "", tr);
      var fix = html("td", null, tr);
      if (f.fix) html("code", f.fix, fix);
    });
    flowNote.textContent = !data.flows.length ? "No flows given (--flows)."
      : wanted.length + " flows" + (selection ? " of the selection" : " in this view")
        + (wanted.length > MAX_ROWS ? ", the first " + MAX_ROWS + " listed" : "");
  }

  function matches(id, find) {
    var n = nodes.filter(function (x) { return x.node.id === id; })[0];
    var words = [id].concat(n ? [n.node.label].concat(n.node.members) : []);
    return words.some(function (w) { return w.toLowerCase().indexOf(find) >= 0; });
  }
  function apply() {
    var find = findFilter.value.trim().toLowerCase();
    var shown = {};
    kindBoxes.forEach(function (box) { shown[box.getAttribute("data-show")] = box.checked; });
    var touched = {}, ends = {};
    var visibleEdges = 0;
    edges.forEach(function (e) {
      var visible = e.item.kinds.some(function (k) { return shown[k]; }) && (!find || matches(e.item.from, find) || matches(e.item.to, find));
      e.element.classList.toggle("hidden", !visible);
      e.label.classList.toggle("hidden", !visible);
      ends[e.item.from] = ends[e.item.to] = true;
      if (visible) {
        visibleEdges += 1;
        touched[e.item.from] = touched[e.item.to] = true;
      }
    });
    var visibleNodes = 0;
    nodes.forEach(function (n) {
      var id = n.node.id;
      var visible = touched[id] || (!ends[id] && (!find || matches(id, find)));
      n.element.classList.toggle("hidden", !visible);
      if (visible) visibleNodes += 1;
    });
    document.getElementById("palisade-count").textContent = visibleNodes + " nodes, " + visibleEdges + " edges shown";
    writeHash(find, shown);
    table();
  }

  function writeHash(find, shown) {
    var parts = ["view=" + encodeURIComponent(view.id)];
    parts.push("show=" + kindBoxes.filter(function (b) { return b.checked; })
      .map(function (b) { return b.getAttribute("data-show"); }).join(","));
    if (find) parts.push("find=" + encodeURIComponent(find));
    if (history.replaceState) history.replaceState(null, "", "#" + parts.join("&"));
  }
  function readHash() {
    var hash = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var kv = pair.split("=");
      if (kv[0]) hash[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || "");
    });
    if (hash.namespace) hash.view = "ns:" + hash.namespace;
    if (hash.find) findFilter.value = hash.find;
    if (hash.show !== undefined) {
      var wanted = hash.show.split(",");
      kindBoxes.forEach(function (box) { box.checked = wanted.indexOf(box.getAttribute("data-show")) >= 0; });
    }
    return views[hash.view] ? hash.view : data.default_view;
  }

  data.views.forEach(function (v) {
    var option = document.createElement("option");
    option.value = v.id;
    option.textContent = v.title;
    viewFilter.appendChild(option);
  });
  var first = readHash();
  viewFilter.value = first;
  viewFilter.addEventListener("change", function () { draw(viewFilter.value); });
  findFilter.addEventListener("input", apply);
  kindBoxes.forEach(function (box) { box.addEventListener("change", apply); });
  window.addEventListener("hashchange", function () { var id = readHash(); viewFilter.value = id; draw(id); });
  draw(first);
  document.body.setAttribute("data-drawn", "true");
})();
