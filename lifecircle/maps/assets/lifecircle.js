/* lifecircle map helpers: draw the overlays from JSON payloads written by lifecircle.maps.webmap.
 *
 * Every text that comes from a register or plan (names, addresses, indicators) is put in the page
 * with textContent or a DOM text node, never as HTML, so a name carrying a script tag
 * shows as text and runs nothing. Colours and glyph keys are checked
 * in Python before they get here.
 */
var LC = (function () {
  "use strict";

  // Glyphs drawn in white inside the 26x34 pin (viewBox units), by key.
  var GLYPHS = {
    home: "M13 6.5L6.5 12.5H8.5V19H11.5V15H14.5V19H17.5V12.5H19.5Z",
    cutlery: "M9 6.5V12a1.5 1.5 0 0 0 1 1.4V19.5h1.4V13.4a1.5 1.5 0 0 0 1-1.4V6.5h-.9v4h-.6v-4h-.8v4h-.6v-4Z" +
      "M15 6.5c2 0 2.6 2.5 2.6 5v1.5h-1.2v6.5H15Z",
    columns: "M13 6.5L6.5 10H19.5ZM7.5 11h11v1h-11ZM8.5 12.5h1.6v5H8.5ZM12.2 12.5h1.6v5h-1.6Z" +
      "M15.9 12.5h1.6v5h-1.6ZM7 18h12v1.5H7Z",
    people: "M8 9.5a2 2 0 1 0 4 0a2 2 0 1 0-4 0ZM6.5 18c0-2.5 1.6-4 3.5-4s3.5 1.5 3.5 4Z" +
      "M14 9.5a2 2 0 1 0 4 0a2 2 0 1 0-4 0ZM12.5 18c0-2.5 1.6-4 3.5-4s3.5 1.5 3.5 4Z",
    person: "M11 8.5a2 2 0 1 0 4 0a2 2 0 1 0-4 0ZM9 19c0-4 1.5-7 4-7s4 3 4 7Z",
    shield: "M13 6.5L7.5 8.5V12.5c0 3.5 2.4 6 5.5 7c3.1-1 5.5-3.5 5.5-7V8.5Z",
    building: "M8.5 6.5h9v13h-3.5v-3h-2v3h-3.5ZM10 8.5v1.5h1.5V8.5ZM14.5 8.5v1.5H16V8.5Z" +
      "M10 11.5v1.5h1.5v-1.5ZM14.5 11.5v1.5H16v-1.5Z",
    heart: "M13 18.5L7.6 13.2a3 3 0 0 1 5.4-4.2a3 3 0 0 1 5.4 4.2Z",
    cap: "M13 8L6 11L13 14L20 11ZM9 13v3c0 1 2 2 4 2s4-1 4-2v-3l-4 1.8Z",
    bell: "M13 6.5c-2.5 0-4 2-4 4.5v3.5L7.5 16.5h11L17 14.5V11c0-2.5-1.5-4.5-4-4.5Z" +
      "M11.5 17.5a1.5 1.5 0 0 0 3 0Z",
    dot: "M9 13a4 4 0 1 0 8 0a4 4 0 1 0-8 0Z"
  };
  var PIN = "M13 0C5.8 0 0 5.8 0 13c0 9.7 13 21 13 21s13-11.3 13-21C26 5.8 20.2 0 13 0Z";
  var STAR = "M15 1L18.5 10.2L28.3 10.7L20.6 16.9L23.2 26.4L15 21L6.8 26.4L9.4 16.9L1.7 10.7" +
    "L11.5 10.2Z";

  function pinIcon(color, glyph) {
    var svg = '<svg xmlns="http://www.w3.org/2000/svg" width="26" height="34" viewBox="0 0 26 34">' +
      '<path d="' + PIN + '" fill="' + color + '" stroke="#fff" stroke-width="1.2"/>' +
      '<path d="' + (GLYPHS[glyph] || GLYPHS.dot) + '" fill="#fff" fill-rule="evenodd"/></svg>';
    return L.divIcon({html: svg, className: "lc-pin", iconSize: [26, 34], iconAnchor: [13, 34],
                      popupAnchor: [0, -30], tooltipAnchor: [0, -20]});
  }

  function starIcon(color) {
    var svg = '<svg xmlns="http://www.w3.org/2000/svg" width="30" height="30" viewBox="0 0 30 30">' +
      '<path d="' + STAR + '" fill="' + color + '" stroke="#000" stroke-width="1.3"/></svg>';
    return L.divIcon({html: svg, className: "lc-star", iconSize: [30, 30], iconAnchor: [15, 15],
                      popupAnchor: [0, -12]});
  }

  function textDiv(cls, text) {
    var d = document.createElement("div");
    d.className = cls;
    d.textContent = text;
    return d;
  }

  // A popup body: a title line and a two-column table of label / value, all as text.
  function popupTable(title, labels, values) {
    var box = document.createElement("div");
    box.className = "lc-popup";
    box.appendChild(textDiv("lc-popup-title", title));
    var table = document.createElement("table");
    for (var i = 0; i < labels.length; i++) {
      var v = values[i];
      if (v === null || v === undefined || v === "") continue;
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.textContent = labels[i];
      var td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(th);
      tr.appendChild(td);
      table.appendChild(tr);
    }
    box.appendChild(table);
    return box;
  }

  function markerTarget(group, p) {
    if (p.cluster && L.markerClusterGroup) {
      var cluster = L.markerClusterGroup({maxClusterRadius: 40, disableClusteringAtZoom: 16,
                                          showCoverageOnHover: false});
      group.addLayer(cluster);
      return cluster;
    }
    return group;
  }

  // ---- one story per target: the selector's target drives every layer of the map --------
  // map._lcStory = {targets: [{label, category, keys, ...}], current, listeners}
  function story(map, p) {
    map._lcStory = {targets: p.targets, current: p.initial || 0, listeners: []};
  }

  function currentTarget(map) {
    var st = map._lcStory;
    return st && st.targets.length ? st.targets[st.current] : null;
  }

  // Call show(target) now and whenever the selected target changes.
  function follow(map, show) {
    map._lcStory.listeners.push(show);
    show(currentTarget(map));
  }

  function select(map, index) {
    var st = map._lcStory;
    st.current = index;
    st.listeners.forEach(function (f) { f(currentTarget(map)); });
  }

  // Sub-layers by key inside a group; follow() shows the keys the target names.
  function switcher(group, map, build, keysOf) {
    var built = {};
    follow(map, function (t) {
      var want = keysOf(t);
      Object.keys(built).forEach(function (k) {
        if (want.indexOf(k) < 0) group.removeLayer(built[k]);
      });
      want.forEach(function (k) {
        if (!built[k]) built[k] = build(k);
        if (built[k] && !group.hasLayer(built[k])) group.addLayer(built[k]);
      });
    });
  }

  function categoryKeys(p) {
    return function (t) {
      if (!t || !t.category) return Object.keys(p.cats);
      return p.cats[t.category] ? [t.category] : [];
    };
  }

  // Facilities by category: p.cats[key] = {color, glyph, fields, rows: [lat, lon, name, ...]}.
  function facilities(group, p, map) {
    switcher(group, map, function (key) {
      var c = p.cats[key];
      var sub = L.featureGroup();
      var icon = pinIcon(c.color, c.glyph);
      var target = markerTarget(sub, c);
      var markers = c.rows.map(function (r) {
        var m = L.marker([r[0], r[1]], {icon: icon, title: r[2], alt: r[2]});
        m.bindPopup(function () { return popupTable(r[2], c.fields, r.slice(3)); },
                    {maxWidth: 320});
        return m;
      });
      if (target.addLayers) { target.addLayers(markers); } else { markers.forEach(function (m) { target.addLayer(m); }); }
      return sub;
    }, categoryKeys(p));
  }

  // Proposed sites by category: p.cats[key] = {rows: [lat, lon, rank, values...]}.
  function sites(group, p, map) {
    var icon = starIcon(p.color);
    switcher(group, map, function (key) {
      var sub = L.featureGroup();
      p.cats[key].rows.forEach(function (r) {
        var title = p.title + " " + r[2];
        L.marker([r[0], r[1]], {icon: icon, title: title, alt: title, zIndexOffset: 1000})
          .bindPopup(function () { return popupTable(title, p.fields, r.slice(3)); },
                     {maxWidth: 360})
          .addTo(sub);
      });
      return sub;
    }, categoryKeys(p));
  }

  function viewKeys(p) {
    return function (t) {
      return (t && t.keys ? t.keys : []).filter(function (k) { return p.views[k]; });
    };
  }

  // Service areas at the target's walk per township kind: p.views[key] = {geojson, color, label}.
  function areas(group, p, map) {
    switcher(group, map, function (key) {
      var v = p.views[key];
      // not interactive: pointing at a township under an area still shows its status and gap
      // (the legend names the area and its walk)
      return L.geoJSON(v.geojson, {
        interactive: false,
        style: {color: v.color, weight: 2, opacity: 0.95, dashArray: "6 3", fillColor: v.color,
                fillOpacity: 0.1}
      });
    }, viewKeys(p));
  }

  // Village/community boundaries: dashed outlines, the unit's name (and code) as tooltip text.
  function units(group, p) {
    L.geoJSON(p.geojson, {
      style: {color: "#444", weight: 1, dashArray: "4 3", fill: true, fillOpacity: 0},
      onEachFeature: function (f, layer) {
        layer.bindTooltip(textDiv("lc-tip", f.properties.n), {sticky: true});
      }
    }).addTo(group);
  }

  // Ways the walk rules dropped (the network audit): thin grey lines, not interactive.
  function ways(group, p) {
    L.geoJSON(p.geojson, {interactive: false,
                          style: {color: "#7f7f7f", weight: 1.5, opacity: 0.8}}).addTo(group);
  }

  // Uncovered seniors at the target's walk: p.views[key] = {rows: [lat, lon, people, radius]}.
  function uncovered(group, p, map) {
    switcher(group, map, function (key) {
      var sub = L.featureGroup();
      p.views[key].rows.forEach(function (r) {
        L.circleMarker([r[0], r[1]], {radius: r[3], color: "#fff", weight: 0.8,
                                      fillColor: p.color, fillOpacity: 0.7})
          .bindTooltip(textDiv("lc-tip", p.label + "：" + r[2]))
          .addTo(sub);
      });
      return sub;
    }, viewKeys(p));
  }

  function legendRow(color, text, shape) {
    var row = document.createElement("div");
    var sw = document.createElement("span");
    sw.className = "lc-swatch" + (shape ? " lc-swatch-" + shape : "");
    sw.style.background = color;
    row.appendChild(sw);
    row.appendChild(document.createTextNode(text));
    return row;
  }

  // Township polygons coloured by the status of the selected target, with a permanent label
  // (name, status mark and shortfall) and a hover tip. Feature properties: c code, n name,
  // s [status index per target], v [status text per target], m [short label per target].
  function townships(group, p, map) {
    var st = map._lcStory;
    var byCode = {};
    function current() { return st.targets.length ? st.current : -1; }
    var hatch = null;  // not met is hatched as well as orange: colour is not the only cue
    function style(f) {
      var focus = p.focus && f.properties.c === p.focus;
      var i = current();
      var s = i >= 0 ? f.properties.s[i] : 3;
      var fill = s === 1 && hatch ? "url(#" + hatch + ")" : p.colors[s];
      return {color: focus ? "#000" : "#555", weight: focus ? 3 : 1,
              fillColor: fill, fillOpacity: i >= 0 ? p.opacity : 0.08};
    }
    function addHatch(svg) {
      var ns = "http://www.w3.org/2000/svg";
      var id = "lc-hatch-" + L.stamp(map);
      var defs = document.createElementNS(ns, "defs");
      var pattern = document.createElementNS(ns, "pattern");
      pattern.setAttribute("id", id);
      pattern.setAttribute("patternUnits", "userSpaceOnUse");
      pattern.setAttribute("width", "8");
      pattern.setAttribute("height", "8");
      pattern.setAttribute("patternTransform", "rotate(45)");
      var rect = document.createElementNS(ns, "rect");
      rect.setAttribute("width", "8");
      rect.setAttribute("height", "8");
      rect.setAttribute("fill", p.colors[1]);
      var line = document.createElementNS(ns, "rect");
      line.setAttribute("width", "2.5");
      line.setAttribute("height", "8");
      line.setAttribute("fill", p.hatchColor);
      pattern.appendChild(rect);
      pattern.appendChild(line);
      defs.appendChild(pattern);
      svg.insertBefore(defs, svg.firstChild);
      return id;
    }
    function tip(f) {
      var box = document.createElement("div");
      box.className = "lc-tip";
      box.appendChild(textDiv("lc-tip-title", f.properties.n));
      var i = current();
      if (i >= 0) {
        box.appendChild(textDiv("", st.targets[i].label));
        box.appendChild(textDiv("", f.properties.v[i]));
      }
      return box;
    }
    function labelOf(f) {
      var box = document.createElement("div");
      box.appendChild(textDiv("lc-label-name", f.properties.n));
      var i = current();
      if (i >= 0 && f.properties.m[i]) box.appendChild(textDiv("lc-label-status", f.properties.m[i]));
      return box;
    }
    var layer = L.geoJSON(p.geojson, {
      style: style,
      onEachFeature: function (f, l) {
        byCode[f.properties.c] = l;
        l.bindTooltip(function () { return tip(f); }, {sticky: true});
      }
    }).addTo(group);
    var renderer = map.getRenderer(layer);
    if (renderer && renderer._container && renderer._container.tagName.toLowerCase() === "svg") {
      hatch = addHatch(renderer._container);
      layer.setStyle(style);
    }
    // names and shortfalls on the map (a second, permanent tooltip per township)
    var labels = L.layerGroup();
    layer.eachLayer(function (l) {
      var t = L.tooltip({permanent: true, direction: "center", className: "lc-label",
                         interactive: false});
      t.setLatLng(l.getBounds().getCenter());
      t.lcFeature = l.feature;
      labels.addLayer(t);
    });
    function relabel() {
      labels.eachLayer(function (t) { t.setContent(labelOf(t.lcFeature)); });
    }
    relabel();
    group.lcLabels = labels;

    var legend = L.control({position: "bottomleft"});
    var areaRow, categoryRow;
    legend.onAdd = function () {
      var box = L.DomUtil.create("div", "lc-legend leaflet-bar");
      box.appendChild(textDiv("lc-legend-title", p.title));
      if (st.targets.length) {
        var select = document.createElement("select");
        select.className = "lc-target-select";
        select.setAttribute("aria-label", p.targetLabel);
        st.targets.forEach(function (t, i) {
          var o = document.createElement("option");
          o.value = String(i);
          o.textContent = t.label;
          o.selected = i === st.current;
          select.appendChild(o);
        });
        select.addEventListener("change", function () { select_(parseInt(select.value, 10)); });
        box.appendChild(select);
        for (var i = 0; i < 4; i++) {
          box.appendChild(legendRow(i === 1 ? "repeating-linear-gradient(45deg, " + p.colors[1] +
                                    " 0 4px, " + p.hatchColor + " 4px 6px)" : p.colors[i],
                                    p.statusLabels[i]));
        }
        categoryRow = box.appendChild(document.createElement("div"));
        areaRow = box.appendChild(document.createElement("div"));
        box.appendChild(legendRow(p.uncoveredColor, p.uncoveredLabel, "dot"));
        fillLegend(currentTarget(map));
      } else {
        box.appendChild(textDiv("", p.noTarget));
      }
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    function fillLegend(t) {
      if (!areaRow || !t) return;
      categoryRow.replaceChildren(legendRow(t.color || "#777", t.categoryName || "", "pin"));
      areaRow.replaceChildren(legendRow(t.color || "#777", t.walk || "", "area"));
    }
    function select_(i) { select(map, i); }
    group.on("add", function () { legend.addTo(map); });
    group.on("remove", function () { legend.remove(); });
    if (map.hasLayer(group)) legend.addTo(map);

    // the status table (overview side panel): a click zooms to the township; the selected
    // target's column is marked
    var table = document.querySelector(".lc-status-table");
    function markColumn() {
      if (!table) return;
      table.querySelectorAll("[data-target]").forEach(function (c) {
        c.classList.toggle("lc-current", parseInt(c.getAttribute("data-target"), 10) === st.current);
      });
    }
    if (table) {
      table.querySelectorAll("tr[data-code]").forEach(function (tr) {
        tr.addEventListener("click", function (e) {
          var l = byCode[tr.getAttribute("data-code")];
          if (!l || (e.target && e.target.closest && e.target.closest("a"))) return;
          table.querySelectorAll("tr.lc-picked").forEach(function (o) { o.classList.remove("lc-picked"); });
          tr.classList.add("lc-picked");
          map.fitBounds(l.getBounds(), {animate: false});
        });
      });
      table.querySelectorAll("th[data-target]").forEach(function (th) {
        th.addEventListener("click", function () {
          var i = parseInt(th.getAttribute("data-target"), 10);
          var sel = document.querySelector(".lc-target-select");
          if (sel) sel.value = String(i);
          select(map, i);
        });
      });
    }
    follow(map, function (t) {
      layer.setStyle(style);
      relabel();
      fillLegend(t);
      markColumn();
    });
    group.lcLayer = layer;
  }

  // A short, folded layer list in groups: p.groups = [{title, items: [[layer, text, shown]]}].
  function layers(map, p) {
    var control = L.control({position: "topright"});
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "leaflet-control-layers lc-layers");
      var toggle = L.DomUtil.create("a", "leaflet-control-layers-toggle", box);
      toggle.href = "#";
      toggle.title = p.title;
      toggle.setAttribute("role", "button");
      toggle.setAttribute("aria-label", p.title);
      var list = L.DomUtil.create("section", "leaflet-control-layers-list", box);
      p.groups.forEach(function (g) {
        list.appendChild(textDiv("lc-layers-group", g.title));
        g.items.forEach(function (item) {
          var row = document.createElement("label");
          var input = document.createElement("input");
          input.type = "checkbox";
          input.className = "leaflet-control-layers-selector";
          input.checked = map.hasLayer(item[0]);
          input.addEventListener("change", function () {
            if (input.checked) map.addLayer(item[0]); else map.removeLayer(item[0]);
          });
          row.appendChild(input);
          row.appendChild(document.createTextNode(" " + item[1]));
          list.appendChild(row);
        });
      });
      function open() { box.classList.add("leaflet-control-layers-expanded"); }
      function close() { box.classList.remove("leaflet-control-layers-expanded"); }
      // as Leaflet's own list: pointing or tapping opens it, leaving it or a map click folds it
      L.DomEvent.on(toggle, "click", function (e) { L.DomEvent.preventDefault(e); open(); });
      L.DomEvent.on(toggle, "focus", open);
      L.DomEvent.on(box, "mouseenter", open);
      L.DomEvent.on(box, "mouseleave", close);
      map.on("click", close);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    control.addTo(map);
  }

  // Township labels follow their group (kept separate so they can be turned off).
  function labels(group, p, map) {
    if (p.townships && p.townships.lcLabels) group.addLayer(p.townships.lcLabels);
  }

  // Province overview: p.features are county outlines with {fill, label, href}; the label
  // stays on the map as text (never HTML) and a click opens the county's overview.
  function counties(map, p) {
    L.geoJSON({type: "FeatureCollection", features: p.features}, {
      style: function (f) {
        return {fillColor: f.properties.fill, color: "#333", weight: 1.5, fillOpacity: 0.7};
      },
      onEachFeature: function (feature, layer) {
        var text = document.createElement("span");
        text.textContent = feature.properties.label;
        layer.bindTooltip(text, {permanent: true, direction: "center",
                                 className: "lc-county-label"});
        layer.on("click", function () { window.location.href = feature.properties.href; });
      }
    }).addTo(map);
  }

  // Chinese (or English) titles on Leaflet's own controls.
  function controls(map, p) {
    L.control.zoom({position: "topleft", zoomInTitle: p.zoomIn, zoomOutTitle: p.zoomOut})
      .addTo(map);
  }

  return {facilities: facilities, sites: sites, areas: areas, uncovered: uncovered, units: units,
          townships: townships, labels: labels, ways: ways, story: story, select: select, layers: layers,
          controls: controls, counties: counties, pinIcon: pinIcon, popupTable: popupTable};
})();
