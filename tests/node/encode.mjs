// Test-time reference for tests/tokenizer/node_compare_test.cpp: encodes and decodes a fixed set of
// strings with @huggingface/tokenizers (tokenizers.js) and prints one JSON document.
// Usage: node encode.mjs <dir with tokenizer.json [+ tokenizer_config.json]> <strings.json>
import { Tokenizer } from "@huggingface/tokenizers";
import fs from "fs";
import path from "path";

const [dir, stringsFile] = process.argv.slice(2);
const tokenizerJson = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
const configPath = path.join(dir, "tokenizer_config.json");
const config = fs.existsSync(configPath) ? JSON.parse(fs.readFileSync(configPath, "utf8")) : {};
const tokenizer = new Tokenizer(tokenizerJson, config);
const strings = JSON.parse(fs.readFileSync(stringsFile, "utf8"));
const out = strings.map((s) => {
  const plain = tokenizer.encode(s, { add_special_tokens: false }).ids;
  const special = tokenizer.encode(s, { add_special_tokens: true }).ids;
  // decode() refuses an empty list.
  const decoded =
    plain.length === 0 ? "" : tokenizer.decode(plain, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  return { ids: plain, ids_with_special: special, decoded };
});
process.stdout.write(JSON.stringify(out));
