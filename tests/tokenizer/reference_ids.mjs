#!/usr/bin/env node
// Reference token ids for tests/tokenizer: reads a JSONL corpus ({"text": ...} per line) and prints,
// per line, {"ids": [...], "ids_plain": [...], "decoded": "...", "decoded_skip": "..."} where
//   ids          = encode(text) with special tokens (post-processor) added
//   ids_plain    = encode(text) without them
//   decoded      = decode(ids_plain), decoded_skip = decode(ids, skip special tokens)
// Usage: node reference_ids.mjs [--impl hf|lenml] [--npm-dir DIR] TOKENIZER_DIR CORPUS.jsonl
//   --impl hf     Hugging Face `tokenizers` (the Rust library, npm package "tokenizers"); default
//   --impl lenml  @lenml/tokenizers (JavaScript port of transformers.js' tokenizers)
//   --npm-dir     where `npm ci` put node_modules (default: $CRUCIBLE_NPM_DIR, else the cwd)
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const args = process.argv.slice(2);
let impl = "hf";
let npmDir = process.env.CRUCIBLE_NPM_DIR || process.cwd();
const pos = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === "--impl") impl = args[++i];
  else if (args[i] === "--npm-dir") npmDir = args[++i];
  else pos.push(args[i]);
}
if (pos.length !== 2 || !["hf", "lenml"].includes(impl)) {
  console.error("usage: node reference_ids.mjs [--impl hf|lenml] [--npm-dir DIR] TOKENIZER_DIR CORPUS.jsonl");
  process.exit(2);
}
const [tokDir, corpusPath] = pos;
const require = createRequire(path.join(path.resolve(npmDir), "package.json"));
const lines = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.trim() !== "");
const texts = lines.map((l) => JSON.parse(l).text);
const out = [];

if (impl === "hf") {
  const { Tokenizer } = require("tokenizers");
  const tok = Tokenizer.fromFile(path.join(tokDir, "tokenizer.json"));
  for (const text of texts) {
    const ids = Array.from((await tok.encode(text, null, { addSpecialTokens: true })).getIds());
    const idsPlain = Array.from((await tok.encode(text, null, { addSpecialTokens: false })).getIds());
    const decoded = await tok.decode(idsPlain, false);
    const decodedSkip = await tok.decode(ids, true);
    out.push(JSON.stringify({ ids, ids_plain: idsPlain, decoded, decoded_skip: decodedSkip }));
  }
} else {
  const { TokenizerLoader } = require("@lenml/tokenizers");
  const cfgPath = path.join(tokDir, "tokenizer_config.json");
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(tokDir, "tokenizer.json"), "utf8")),
    tokenizerConfig: fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {},
  });
  const opts = { clean_up_tokenization_spaces: false };
  for (const text of texts) {
    const ids = tok.encode(text, { add_special_tokens: true });
    const idsPlain = tok.encode(text, { add_special_tokens: false });
    // (its decode rejects an empty list)
    const decoded = idsPlain.length ? tok.decode(idsPlain, { ...opts, skip_special_tokens: false }) : "";
    const decodedSkip = ids.length ? tok.decode(ids, { ...opts, skip_special_tokens: true }) : "";
    out.push(JSON.stringify({ ids, ids_plain: idsPlain, decoded, decoded_skip: decodedSkip }));
  }
}
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
