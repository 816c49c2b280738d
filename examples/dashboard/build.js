// Copies Chart.js's UMD build from node_modules into vendor/, so the page needs no CDN.
const fs = require("fs");
const path = require("path");

const from = path.join(__dirname, "node_modules", "chart.js", "dist", "chart.umd.js");
const to = path.join(__dirname, "vendor", "chart.js");
fs.rmSync(to, { recursive: true, force: true });
fs.mkdirSync(to, { recursive: true });
fs.copyFileSync(from, path.join(to, "chart.umd.js"));
fs.copyFileSync(
  path.join(__dirname, "node_modules", "chart.js", "LICENSE.md"),
  path.join(to, "LICENSE.md"),
);
console.log("vendored Chart.js into", to);
