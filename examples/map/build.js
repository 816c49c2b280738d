// Copies Leaflet's distribution from node_modules into vendor/, so the page needs no CDN.
const fs = require("fs");
const path = require("path");

const from = path.join(__dirname, "node_modules", "leaflet", "dist");
const to = path.join(__dirname, "vendor", "leaflet");
fs.rmSync(to, { recursive: true, force: true });
fs.mkdirSync(path.join(to, "images"), { recursive: true });
for (const f of ["leaflet.js", "leaflet.css"]) {
  fs.copyFileSync(path.join(from, f), path.join(to, f));
}
for (const f of fs.readdirSync(path.join(from, "images"))) {
  fs.copyFileSync(path.join(from, "images", f), path.join(to, "images", f));
}
console.log("vendored Leaflet into", to);
