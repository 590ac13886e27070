// Compiles every Solidity source of the project with npm's pinned solc through standard JSON and writes the
// artifacts the Python runtime loads, so that running the product never needs Node.
//
//   node contracts/compile.mjs          write contracts/build/
//   node contracts/compile.mjs --check  recompile in memory; exit 1 if any checked-in artifact is stale
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync, rmSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = join(root, "contracts", "build");
const sourceDirs = ["contracts", "bench/contracts"];
const settings = {
  optimizer: { enabled: true, runs: 10000 },
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function solidityFiles(dir) {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "build" ? [] : solidityFiles(path);
    return entry.name.endsWith(".sol") ? [path] : [];
  });
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function compile() {
  const sources = {};
  for (const dir of sourceDirs) {
    for (const path of solidityFiles(dir)) sources[path] = { content: readFileSync(join(root, path), "utf8") };
  }
  const imported = {};
  const findImports = (path) => {
    const file = join(root, "node_modules", path);
    if (!existsSync(file)) return { error: `not found: ${path}` };
    imported[path] = readFileSync(file, "utf8");
    return { contents: imported[path] };
  };
  const input = { language: "Solidity", sources, settings };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  for (const e of output.errors ?? []) console.error(e.formattedMessage);
  if (errors.length > 0) process.exit(2);

  const allSources = { ...Object.fromEntries(Object.entries(sources).map(([p, s]) => [p, s.content])), ...imported };
  const sourceHashes = Object.fromEntries(Object.keys(allSources).sort().map((p) => [p, sha256(allSources[p])]));
  const files = {};
  const contracts = [];
  for (const [sourceName, byName] of Object.entries(output.contracts)) {
    if (!(sourceName in sources)) continue; // OpenZeppelin's own artifacts are not ours to ship
    for (const [contractName, out] of Object.entries(byName)) {
      const artifact = {
        contractName,
        sourceName,
        abi: out.abi,
        bytecode: "0x" + out.evm.bytecode.object,
        deployedBytecode: "0x" + out.evm.deployedBytecode.object,
      };
      files[`${contractName}.json`] = JSON.stringify(artifact, null, 2) + "\n";
      contracts.push(contractName);
    }
  }
  const buildInfo = {
    compiler: { name: "solc", version: solc.version() },
    settings,
    sourcesHash: sha256(JSON.stringify(sourceHashes)),
    sources: sourceHashes,
    contracts: contracts.sort(),
  };
  files["build-info.json"] = JSON.stringify(buildInfo, null, 2) + "\n";
  return files;
}

const files = compile();
if (process.argv.includes("--check")) {
  const onDisk = existsSync(buildDir) ? readdirSync(buildDir).filter((f) => f.endsWith(".json")) : [];
  const stale = Object.keys(files).filter((f) => !existsSync(join(buildDir, f)) || readFileSync(join(buildDir, f), "utf8") !== files[f]);
  const extra = onDisk.filter((f) => !(f in files));
  if (stale.length || extra.length) {
    console.error(`stale artifacts in ${relative(root, buildDir)}: ${[...stale, ...extra].join(", ")}; run: make contracts`);
    process.exit(1);
  }
  console.log(`contracts/build is current (${Object.keys(files).length} files)`);
} else {
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(buildDir, name), text);
  console.log(`wrote ${Object.keys(files).length} files to ${relative(root, buildDir)} with solc ${solc.version()}`);
}
