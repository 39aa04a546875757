// Drives a running `mlxcel serve` with the official openai npm client: models, chat and text
// completions, streamed and not, usage, seed, stop, max_tokens, logprobs, the vLLM-style sampling
// fields (top_k, min_p, repetition_penalty: the Node client sends extra fields of the request
// body as given, its equivalent of Python's extra_body), and the client's error classes.
// Usage: node openai_client_test.mjs <base_url> <api_key> [tools]   (base_url like
// http://127.0.0.1:PORT/v1). With "tools" it runs the tool-call checks instead, against the tiny
// tool-call model of tests/server/e2e_test.cpp (E2eTools): its tokens 258..260 spell one Hermes
// call, forced by logit_bias and repetition_penalty (see write_tool_model there).
// Exits 0 when every check passed; prints one line per check.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [baseURL, apiKey, mode] = process.argv.slice(2);
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

check('chat logprobs with top_logprobs', async () => {
  const r = await client.chat.completions.create({
    model: modelId,
    messages: [{ role: 'user', content: prompt }],
    max_tokens: 8,
    temperature: 0,
    logprobs: true,
    top_logprobs: 3,
  });
  const content = r.choices[0].logprobs.content;
  assert.ok(content.length >= 1 && content.length <= 8);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0);
    assert.ok(Array.isArray(t.bytes));
    assert.equal(t.top_logprobs.length, 3);
    // greedy: the sampled token is the most likely one
    assert.equal(t.top_logprobs[0].logprob, t.logprob);
  }
  assert.equal(content.map((t) => t.token).join(''), r.choices[0].message.content);
});

check('streamed chat logprobs come with each token', async () => {
  const stream = await client.chat.completions.create({
    model: modelId,
    messages: [{ role: 'user', content: prompt }],
    max_tokens: 10,
    temperature: 0,
    logprobs: true,
    stream: true,
  });
  let text = '';
  let tokens = '';
  let pieces = 0;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice?.delta.content) continue;
    pieces++;
    text += choice.delta.content;
    assert.ok(choice.logprobs.content.length >= 1);
    tokens += choice.logprobs.content.map((t) => t.token).join('');
  }
  assert.ok(pieces >= 2);
  assert.equal(tokens, text);
});

check('text completion logprobs in the legacy shape', async () => {
  const r = await client.completions.create({ model: modelId, prompt, max_tokens: 6, temperature: 0, logprobs: 2 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, 6);
  assert.equal(lp.token_logprobs.length, 6);
  assert.equal(lp.top_logprobs.length, 6);
  assert.deepEqual(lp.text_offset.slice(0, 1), [0]);
  assert.ok(Object.keys(lp.top_logprobs[0]).length <= 3);
  assert.equal(lp.tokens.join(''), r.choices[0].text);
});

check('vLLM-style top_k 1 samples the greedy text', async () => {
  const body = { model: modelId, prompt, max_tokens: 16 };
  const greedy = await client.completions.create({ ...body, temperature: 0 });
  const topk = await client.completions.create({ ...body, temperature: 1.3, seed: 9, top_k: 1 });
  assert.equal(topk.choices[0].text, greedy.choices[0].text);
  const minp = await client.completions.create({ ...body, temperature: 1.3, seed: 9, min_p: 1 });
  assert.equal(minp.choices[0].text, greedy.choices[0].text);
});

check('penalties, logit_bias and ignored fields are accepted', async () => {
  const r = await client.chat.completions.create({
    model: modelId,
    messages: [{ role: 'user', content: prompt }],
    max_tokens: 5,
    temperature: 1,
    seed: 4,
    presence_penalty: 0.5,
    frequency_penalty: 0.5,
    repetition_penalty: 1.2,
    logit_bias: { 300: 100 },
    logprobs: true,
    store: false,
    metadata: { suite: 'node' },
    user: 'tester',
    parallel_tool_calls: false,
  });
  // +100 on one token: every sampled token is that one
  const tokens = r.choices[0].logprobs.content.map((t) => t.token);
  assert.equal(tokens.length, 5);
  assert.ok(tokens.every((t) => t === tokens[0]), JSON.stringify(tokens));
});

check('an out-of-range sampling value is a BadRequestError naming it', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'hi' }], presence_penalty: 3 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'presence_penalty',
  );
  await assert.rejects(
    client.completions.create({ model: modelId, prompt, logit_bias: { 99999999: 1 } }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'logit_bias' && /99999999/.test(e.message),
  );
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

if (mode === 'tools') {
  checks.length = 0;
  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  }];
  // Each step the next of <tool_call>, the call's JSON, </tool_call>, EOS (257) wins: a token
  // already generated has its biased logit divided by 3.
  const forced = {
    model: 'tool-model',
    messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    tools,
    temperature: 0,
    max_tokens: 8,
    logit_bias: { 258: 100, 259: 95, 260: 90, 257: 85 },
    repetition_penalty: 3,
  };
  check('tool call, non-streamed', async () => {
    const r = await client.chat.completions.create(forced);
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.match(call.id, /^call_/);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.equal(r.usage.completion_tokens, 4);
  });
  check('tool call, streamed', async () => {
    const stream = await client.chat.completions.create({ ...forced, stream: true });
    const calls = [];
    let content = '';
    let finish;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta.content) content += choice.delta.content;
      for (const t of choice.delta.tool_calls ?? []) {
        if (!calls[t.index]) calls[t.index] = { id: t.id, name: t.function?.name ?? '', arguments: '' };
        calls[t.index].arguments += t.function?.arguments ?? '';
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    assert.equal(content, '');
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 1);
    assert.match(calls[0].id, /^call_/);
    assert.equal(calls[0].name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0].arguments), { city: 'Paris' });
  });
  check('the tool result goes back in the conversation', async () => {
    const first = await client.chat.completions.create(forced);
    const message = first.choices[0].message;
    const r = await client.chat.completions.create({
      model: 'tool-model',
      messages: [
        ...forced.messages,
        message,
        { role: 'tool', tool_call_id: message.tool_calls[0].id, content: '{"temperature": 21}' },
      ],
      tools,
      max_tokens: 3,
      temperature: 0,
    });
    assert.ok(r.usage.prompt_tokens > first.usage.prompt_tokens);
    assert.ok(['stop', 'length', 'tool_calls'].includes(r.choices[0].finish_reason));
  });
  check('tool_choice naming an unknown function is a BadRequestError', async () => {
    await assert.rejects(
      client.chat.completions.create({ ...forced, tool_choice: { type: 'function', function: { name: 'nope' } } }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'tool_choice',
    );
  });
}

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
