// Shows Legami's GET /api/v1/map on a Leaflet map.
// The API address comes from ?api=... (default: the page's own origin), so the same page works
// served by a partner site or opened from disk in a test.
(function () {
  const params = new URLSearchParams(window.location.search);
  const api = (params.get("api") || window.location.origin).replace(/\/$/, "");
  const status = document.getElementById("status");
  const map = L.map("map").setView([45.6, 9.6], 8);
  if (params.get("tiles") !== "off") {
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
      maxZoom: 19,
      attribution: "&copy; OpenStreetMap contributors",
    }).addTo(map);
  }
  const query = new URLSearchParams();
  for (const key of ["types", "theme", "province", "bbox"]) {
    if (params.get(key)) query.set(key, params.get(key));
  }
  fetch(api + "/api/v1/map?" + query.toString(), { headers: { Accept: "application/geo+json" } })
    .then((res) => {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    })
    .then((collection) => {
      const layer = L.geoJSON(collection, {
        onEachFeature: (feature, marker) => {
          const p = feature.properties;
          const link = document.createElement("a");
          link.href = api + p.url;
          link.textContent = p.name;
          const box = document.createElement("div");
          box.appendChild(link);
          box.appendChild(document.createElement("br"));
          box.appendChild(document.createTextNode(p.type + " · " + p.kind));
          marker.bindPopup(box);
        },
      }).addTo(map);
      const n = collection.features.length;
      status.textContent = n + " luoghi sulla mappa";
      status.dataset.count = String(n);
      document.body.dataset.loaded = "true";
      if (n > 0) map.fitBounds(layer.getBounds(), { padding: [20, 20], maxZoom: 15 });
    })
    .catch((err) => {
      status.textContent = "Impossibile caricare la mappa: " + err.message;
      document.body.dataset.loaded = "error";
    });

  // The list of labs, from GET /api/v1/labs, following every cursor.
  const list = document.getElementById("labs");
  function page(cursor) {
    const q = new URLSearchParams({ limit: "100", sort: "name" });
    if (params.get("theme")) q.set("theme", params.get("theme"));
    if (params.get("province")) q.set("province", params.get("province"));
    if (cursor) q.set("cursor", cursor);
    return fetch(api + "/api/v1/labs?" + q.toString(), { headers: { Accept: "application/json" } })
      .then((res) => {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then((body) => {
        for (const lab of body.data) {
          const item = document.createElement("li");
          item.className = "lab";
          const link = document.createElement("a");
          link.href = api + "/api/v1/labs/" + lab.slug;
          link.textContent = lab.name;
          item.appendChild(link);
          list.appendChild(item);
        }
        return body.page.next_cursor ? page(body.page.next_cursor) : null;
      });
  }
  page(null)
    .then(() => {
      list.dataset.labs = String(list.children.length);
    })
    .catch((err) => {
      list.dataset.labs = "error";
      list.textContent = "Impossibile caricare i laboratori: " + err.message;
    });
})();
