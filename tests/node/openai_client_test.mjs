// Drives a running `mlxcel serve` with the official openai npm client: models, chat and text
// completions, streamed and not, usage, seed, stop, max_tokens, and the client's error classes.
// Usage: node openai_client_test.mjs <base_url> <api_key>   (base_url like http://127.0.0.1:PORT/v1)
// Exits 0 when every check passed; prints one line per check.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [baseURL, apiKey] = process.argv.slice(2);
if (!baseURL || !apiKey) {
  console.error('usage: node openai_client_test.mjs <base_url> <api_key>');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const prompt = 'Once upon a time';

const checks = [];
function check(name, fn) {
  checks.push([name, fn]);
}

let modelId;
check('models.list returns the served model', async () => {
  const page = await client.models.list();
  assert.equal(page.data.length, 1);
  modelId = page.data[0].id;
  assert.equal(page.data[0].object, 'model');
  assert.equal(typeof modelId, 'string');
});

check('chat completion', async () => {
  const r = await client.chat.completions.create({
    model: modelId,
    messages: [{ role: 'user', content: prompt }],
    max_tokens: 24,
    temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 24);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

check('streamed chat completion with usage equals the non-streamed one', async () => {
  const body = {
    model: modelId,
    messages: [{ role: 'user', content: prompt }],
    max_tokens: 24,
    temperature: 0,
  };
  const whole = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({
    ...body,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let role;
  let finish;
  let usage;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    const choice = chunk.choices[0];
    if (choice.delta.role) role = choice.delta.role;
    if (choice.delta.content) text += choice.delta.content;
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.ok(chunks >= 3);
  assert.equal(role, 'assistant');
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.deepEqual(usage, whole.usage);
});

check('text completion, max_tokens ends with length', async () => {
  const r = await client.completions.create({ model: modelId, prompt, max_tokens: 5, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 5);
});

check('streamed text completion equals the non-streamed one', async () => {
  const body = { model: modelId, prompt, max_tokens: 20, temperature: 0 };
  const whole = await client.completions.create(body);
  const stream = await client.completions.create({ ...body, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, whole.choices[0].text);
});

check('the same seed samples the same text', async () => {
  const body = { model: modelId, prompt, max_tokens: 20, temperature: 0.9, top_p: 0.95, seed: 1234 };
  const a = await client.completions.create(body);
  const b = await client.completions.create(body);
  assert.equal(a.choices[0].text, b.choices[0].text);
});

check('a stop string cuts the text before it', async () => {
  const full = (await client.completions.create({ model: modelId, prompt, max_tokens: 30, temperature: 0 }))
    .choices[0].text;
  // A stop string from the middle of the greedy text: the answer is the text before its first occurrence.
  const words = full.split(' ').filter((w) => w.length >= 2);
  assert.ok(words.length >= 3, `greedy text too short: ${JSON.stringify(full)}`);
  const stop = words[2];
  const r = await client.completions.create({ model: modelId, prompt, max_tokens: 30, temperature: 0, stop: [stop] });
  assert.equal(r.choices[0].text, full.slice(0, full.indexOf(stop)));
  assert.equal(r.choices[0].finish_reason, 'stop');
});

check('an unknown field is a BadRequestError naming it', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'hi' }], foo: 1 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'foo' && e.code === 'unknown_field',
  );
});

check('a wrong API key is an AuthenticationError', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e?.stack ?? e}`);
  }
}
console.log(`${checks.length - failed}/${checks.length} checks passed`);
process.exit(failed ? 1 : 0);
