// Bundles the console into dist/: one script per page, the stylesheet and the HTML shells.
// No asset comes from a CDN: every byte the browser loads is in dist/.
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";

const outdir = "dist";
await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: { app: "src/main.ts" },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["es2022"],
  platform: "browser",
  outdir,
  legalComments: "linked",
  logLevel: "warning",
});
for (const file of ["index.html", "console.css"]) {
  await copyFile(`src/${file}`, `${outdir}/${file}`);
}
