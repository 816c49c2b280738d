// A municipal dashboard: GET /api/v1/metrics/summary as JSON draws the chart, the same query as
// CSV fills the table (and the download link). Both must agree, row for row.
// Query parameters of the page: api (the API origin; default the page's own), group_by
// (default indicator,year), province, municipality, area, project, from, to.
(function () {
  const params = new URLSearchParams(window.location.search);
  const api = (params.get("api") || window.location.origin).replace(/\/$/, "");
  const status = document.getElementById("status");
  const query = new URLSearchParams({ group_by: params.get("group_by") || "indicator,year" });
  for (const key of ["province", "municipality", "area", "project", "from", "to"]) {
    if (params.get(key)) query.set(key, params.get(key));
  }
  const url = api + "/api/v1/metrics/summary?" + query.toString();
  document.getElementById("csv").href = url + "&format=csv";

  // RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines.
  function parseCsv(text) {
    const rows = [];
    let row = [], field = "", quoted = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
        else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") { row.push(field); field = ""; }
      else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") i++;
        row.push(field); rows.push(row); row = []; field = "";
      } else field += c;
    }
    if (field !== "" || row.length) { row.push(field); rows.push(row); }
    return rows;
  }

  const json = fetch(url, { headers: { Accept: "application/json" } }).then((r) => {
    if (!r.ok) throw new Error("JSON: HTTP " + r.status);
    return r.json();
  });
  const csv = fetch(url + "&format=csv", { headers: { Accept: "text/csv" } }).then((r) => {
    if (!r.ok) throw new Error("CSV: HTTP " + r.status);
    return r.text();
  });

  Promise.all([json, csv])
    .then(([summary, text]) => {
      const [first, second] = summary.group_by;
      // The chart: one dataset per value of the second grouping (years), bars per indicator.
      const labels = [...new Set(summary.data.map((r) => r[first]))];
      const series = second ? [...new Set(summary.data.map((r) => r[second]))] : ["totale"];
      const datasets = series.map((s) => ({
        label: String(s),
        data: labels.map((l) => {
          const row = summary.data.find((r) => r[first] === l && (!second || r[second] === s));
          return row ? row.actual : null;
        }),
      }));
      const chart = new Chart(document.getElementById("chart"), {
        type: "bar",
        data: { labels, datasets },
        options: { animation: false, responsive: false },
      });

      // The table, from the CSV.
      const rows = parseCsv(text).filter((r) => r.length > 1 || r[0] !== "");
      const [header, ...body] = rows;
      const thead = document.querySelector("#table thead");
      const tbody = document.querySelector("#table tbody");
      thead.innerHTML = "";
      const tr = document.createElement("tr");
      header.forEach((h) => { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); });
      thead.appendChild(tr);
      body.forEach((r) => {
        const line = document.createElement("tr");
        r.forEach((v) => { const td = document.createElement("td"); td.textContent = v; line.appendChild(td); });
        tbody.appendChild(line);
      });

      // JSON and CSV must tell the same story: same rows, same totals.
      const col = header.indexOf("actual");
      const csvTotal = body.reduce((s, r) => s + Number(r[col] || 0), 0);
      const jsonTotal = summary.data.reduce((s, r) => s + (r.actual || 0), 0);
      const agree = body.length === summary.data.length && Math.abs(csvTotal - jsonTotal) < 1e-6;
      const bars = chart.data.datasets.reduce((n, d) => n + d.data.filter((v) => v !== null).length, 0);
      status.textContent = summary.data.length + " righe, " + labels.length + " indicatori" +
        (agree ? "" : " — JSON e CSV non coincidono");
      status.dataset.rows = String(summary.data.length);
      status.dataset.csvRows = String(body.length);
      status.dataset.bars = String(bars);
      status.dataset.total = String(jsonTotal);
      document.body.dataset.loaded = agree ? "true" : "mismatch";
    })
    .catch((err) => {
      status.textContent = "Impossibile caricare i dati: " + err.message;
      document.body.dataset.loaded = "error";
    });
})();
