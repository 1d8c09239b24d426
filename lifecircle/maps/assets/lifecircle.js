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

  // Facilities of one category: rows are [lat, lon, name, value for each of p.fields...].
  function facilities(group, p) {
    var icon = pinIcon(p.color, p.glyph);
    var target = markerTarget(group, p);
    var markers = p.rows.map(function (r) {
      var m = L.marker([r[0], r[1]], {icon: icon, title: r[2], alt: r[2]});
      m.bindPopup(function () { return popupTable(r[2], p.fields, r.slice(3)); },
                  {maxWidth: 320});
      return m;
    });
    if (target.addLayers) { target.addLayers(markers); } else { markers.forEach(function (m) { target.addLayer(m); }); }
  }

  function sites(group, p) {
    var icon = starIcon(p.color);
    var target = markerTarget(group, p);
    p.rows.forEach(function (r) {
      var m = L.marker([r[0], r[1]], {icon: icon, title: p.title + " " + r[2], zIndexOffset: 1000});
      m.bindPopup(function () { return popupTable(p.title + " " + r[2], p.fields, r.slice(3)); });
      target.addLayer(m);
    });
  }

  function areas(group, p) {
    L.geoJSON(p.geojson, {
      style: {color: p.color, weight: 1, opacity: 0.8, fillColor: p.color, fillOpacity: 0.15},
      onEachFeature: function (f, layer) { layer.bindTooltip(textDiv("lc-tip", p.label), {sticky: true}); }
    }).addTo(group);
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

  // Uncovered demand cells: rows are [lat, lon, people aged 60+, radius_px].
  function uncovered(group, p) {
    p.rows.forEach(function (r) {
      L.circleMarker([r[0], r[1]], {radius: r[3], color: p.color, weight: 0.6, fillColor: p.color,
                                    fillOpacity: 0.45})
        .bindTooltip(textDiv("lc-tip", p.label + ": " + r[2]))
        .addTo(group);
    });
  }

  function legendRow(color, text) {
    var row = document.createElement("div");
    var sw = document.createElement("span");
    sw.className = "lc-swatch";
    sw.style.background = color;
    row.appendChild(sw);
    row.appendChild(document.createTextNode(text));
    return row;
  }

  // Township polygons coloured by the status of the target chosen in the legend's selector.
  // Feature properties: n name, s [status index per target], v [status text per target].
  function townships(group, p, map) {
    var current = p.initial || 0;
    function style(f) {
      var focus = p.focus && f.properties.c === p.focus;
      var s = p.targets.length ? f.properties.s[current] : 3;
      return {color: focus ? "#000" : "#555", weight: focus ? 3 : 1,
              fillColor: p.colors[s], fillOpacity: p.targets.length ? 0.45 : 0.08};
    }
    function tip(f) {
      var box = document.createElement("div");
      box.className = "lc-tip";
      box.appendChild(textDiv("lc-tip-title", f.properties.n));
      if (p.targets.length) {
        box.appendChild(textDiv("", p.targets[current]));
        box.appendChild(textDiv("", f.properties.v[current]));
      }
      return box;
    }
    var layer = L.geoJSON(p.geojson, {
      style: style,
      onEachFeature: function (f, l) { l.bindTooltip(function () { return tip(f); }, {sticky: true}); }
    }).addTo(group);

    var legend = L.control({position: "bottomleft"});
    legend.onAdd = function () {
      var box = L.DomUtil.create("div", "lc-legend leaflet-bar");
      box.appendChild(textDiv("lc-legend-title", p.title));
      if (p.targets.length) {
        var select = document.createElement("select");
        select.className = "lc-target-select";
        select.setAttribute("aria-label", p.targetLabel);
        p.targets.forEach(function (t, i) {
          var o = document.createElement("option");
          o.value = String(i);
          o.textContent = t;
          o.selected = i === current;
          select.appendChild(o);
        });
        select.addEventListener("change", function () {
          current = parseInt(select.value, 10);
          layer.setStyle(style);
        });
        box.appendChild(select);
        for (var i = 0; i < 4; i++) box.appendChild(legendRow(p.colors[i], p.statusLabels[i]));
      } else {
        box.appendChild(textDiv("", p.noTarget));
      }
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    group.on("add", function () { legend.addTo(map); });
    group.on("remove", function () { legend.remove(); });
    if (map.hasLayer(group)) legend.addTo(map);
    group.lcLayer = layer;
  }

  return {facilities: facilities, sites: sites, areas: areas, uncovered: uncovered, units: units,
          townships: townships, pinIcon: pinIcon, popupTable: popupTable};
})();
