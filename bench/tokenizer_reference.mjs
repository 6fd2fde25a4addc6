#!/usr/bin/env node
// Reference side of bench_tokenizer_throughput: encodes the corpus (repeated to ~MB megabytes)
// with @lenml/tokenizers (default) or Hugging Face `tokenizers` and prints one JSON line
// {"impl", "texts", "bytes", "tokens", "seconds"}.
// Usage: node tokenizer_reference.mjs [--impl lenml|hf] [--npm-dir DIR] TOKENIZER_DIR CORPUS.jsonl MB
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const args = process.argv.slice(2);
let impl = "lenml";
let npmDir = process.env.CRUCIBLE_NPM_DIR || process.cwd();
const pos = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === "--impl") impl = args[++i];
  else if (args[i] === "--npm-dir") npmDir = args[++i];
  else pos.push(args[i]);
}
if (pos.length !== 3) {
  console.error("usage: node tokenizer_reference.mjs [--impl lenml|hf] [--npm-dir DIR] TOKENIZER_DIR CORPUS.jsonl MB");
  process.exit(2);
}
const [tokDir, corpusPath, mbArg] = pos;
const require = createRequire(path.join(path.resolve(npmDir), "package.json"));
const base = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l).text);
const target = Number(mbArg) * 1e6;
const texts = [];
let bytes = 0;
while (bytes < target) {
  for (const t of base) {
    texts.push(t);
    bytes += Buffer.byteLength(t, "utf8");
  }
}

let tokens = 0;
let seconds = 0;
if (impl === "lenml") {
  const { TokenizerLoader } = require("@lenml/tokenizers");
  const cfgPath = path.join(tokDir, "tokenizer_config.json");
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(tokDir, "tokenizer.json"), "utf8")),
    tokenizerConfig: fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {},
  });
  for (const t of base) tok.encode(t, { add_special_tokens: false });  // warm-up
  const t0 = process.hrtime.bigint();
  for (const t of texts) tokens += tok.encode(t, { add_special_tokens: false }).length;
  seconds = Number(process.hrtime.bigint() - t0) / 1e9;
} else {
  const { Tokenizer } = require("tokenizers");
  const tok = Tokenizer.fromFile(path.join(tokDir, "tokenizer.json"));
  await tok.encodeBatch(base, { addSpecialTokens: false });  // warm-up
  const t0 = process.hrtime.bigint();
  const encs = await tok.encodeBatch(texts, { addSpecialTokens: false });
  seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const e of encs) tokens += e.getIds().length;
}
console.log(JSON.stringify({ impl, texts: texts.length, bytes, tokens, seconds }));
