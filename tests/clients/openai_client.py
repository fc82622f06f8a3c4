"""The official `openai` client against a running `rocmforge serve`: chat, streamed chat,
completions, log-probabilities, and a refused key. Exits non-zero on the first failure.

usage: python3 openai_client.py BASE_URL API_KEY MODEL
"""
import sys

import openai

base, key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=120)

models = [m.id for m in client.models.list().data]
assert models == [model], models

chat = client.chat.completions.create(
    model=model,
    messages=[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a color."}],
    temperature=0,
    max_tokens=12,
    logprobs=True,
    top_logprobs=3,
)
choice = chat.choices[0]
assert choice.message.role == "assistant" and choice.message.content, chat
assert choice.finish_reason in ("stop", "length"), choice.finish_reason
assert chat.usage.prompt_tokens > 0 and 0 < chat.usage.completion_tokens <= 12, chat.usage
assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
lp = choice.logprobs.content
assert len(lp) == chat.usage.completion_tokens, (len(lp), chat.usage)
assert all(len(t.top_logprobs) == 3 and t.logprob <= 0 for t in lp), lp[0]
assert all(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob for t in lp)

stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Name a color."}],
    temperature=0,
    max_tokens=12,
    stream=True,
    stream_options={"include_usage": True},
)
parts, finish, usage = [], None, None
for chunk in stream:
    if chunk.choices:
        delta = chunk.choices[0].delta
        if delta.content:
            parts.append(delta.content)
        finish = chunk.choices[0].finish_reason or finish
    if chunk.usage:
        usage = chunk.usage
streamed = "".join(parts)
plain = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Name a color."}], temperature=0, max_tokens=12
)
assert streamed == plain.choices[0].message.content, (streamed, plain.choices[0].message.content)
assert finish == plain.choices[0].finish_reason, finish
assert usage is not None and usage.completion_tokens == plain.usage.completion_tokens, usage

done = client.completions.create(model=model, prompt="The capital of France is", temperature=0, max_tokens=8, n=2)
assert len(done.choices) == 2 and done.choices[0].text == done.choices[1].text != "", done
assert done.usage.completion_tokens == 16 and done.choices[0].finish_reason == "length", done.usage

stopped = client.completions.create(
    model=model, prompt="The capital of France is", temperature=0, max_tokens=8, stop=[done.choices[0].text[3:6]]
)
assert stopped.choices[0].finish_reason == "stop", stopped
assert stopped.choices[0].text == done.choices[0].text[: done.choices[0].text.index(done.choices[0].text[3:6])]

try:
    openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError:
    pass

print("openai client: all checks passed")
